#ifndef CPINNING_H
#define CPINNING_H

/// Pins the calling thread to CPU `cpu` (Linux); returns 0 on success, an errno
/// value otherwise, and ENOSYS where pinning is not available.
int agg_pin_to_cpu(int cpu);

#endif
