// SPDX-License-Identifier: Apache-2.0
// A plugin linked against the store's shared library (DT_NEEDED) that makes
// the store's first calls in its destructor, while dlclose unloads both
// (loader_main.c, case dlclose-needed).
#include "CThreadLocals.h"

#include <stdio.h>
#include <stdlib.h>

__attribute__((destructor)) static void unload(void) {
    ctl_slot slot;
    if (ctl_slot_create(&slot, NULL, NULL) != CTL_OK || !ctl_set_uword(slot, 3) || ctl_get_uword(slot) != 3 ||
        !ctl_take(slot, NULL) || ctl_slot_destroy(slot) != CTL_OK) {
        fprintf(stderr, "needs_store_plugin: the store failed in the destructor\n");
        abort();
    }
}
