#define _GNU_SOURCE
#include "CPinning.h"

#include <errno.h>
#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

int agg_pin_to_cpu(int cpu) {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
#else
    (void)cpu;
    return ENOSYS;
#endif
}
