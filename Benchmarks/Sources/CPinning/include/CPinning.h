// SPDX-License-Identifier: Apache-2.0
#ifndef CPINNING_H
#define CPINNING_H

/// Pins the calling thread to CPU `cpu` (Linux); returns 0 on success, an errno
/// value otherwise, and ENOSYS where pinning is not available. In C because
/// Swift's Glibc module does not declare the GNU `sched_setaffinity`.
int pin_to_cpu(int cpu);

#endif
