// SPDX-License-Identifier: Apache-2.0
// Loaded with dlopen by first_use_main.c (run-dlopen.sh): a plugin that
// creates its slot at load time, as a C++ static or a Swift global
// initializer would, while the dynamic loader's lock is held.
#include "CThreadLocals.h"

#include <stdatomic.h>
#include <time.h>

extern atomic_int plugin_constructor_running;  // in first_use_main.c
extern int plugin_create_result;

__attribute__((constructor)) static void create_slot_at_load(void) {
    atomic_store(&plugin_constructor_running, 1);
    // Give the main thread time to reach its own first ctl_slot_create.
    nanosleep(&(struct timespec){.tv_nsec = 200 * 1000 * 1000}, NULL);
    ctl_slot slot;
    plugin_create_result = ctl_slot_create(&slot, NULL, NULL);
}
