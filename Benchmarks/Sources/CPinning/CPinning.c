// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "CPinning.h"

#include <errno.h>

#if defined(__linux__)
#include <sched.h>

int pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    // pid 0: the calling thread.
    return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : errno;
}
#else
int pin_to_cpu(int cpu) {
    (void)cpu;
    return ENOSYS;
}
#endif
