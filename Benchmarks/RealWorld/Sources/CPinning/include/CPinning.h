#ifndef RW_PINNING_H
#define RW_PINNING_H

/// Pins the calling thread to CPU `cpu` (Linux); returns 0 on success, an errno
/// value otherwise, and ENOSYS where pinning is not available.
int rw_pin_to_cpu(int cpu);

#endif
