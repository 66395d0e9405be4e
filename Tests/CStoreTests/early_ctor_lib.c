// SPDX-License-Identifier: Apache-2.0
// A library whose constructor makes the process's first calls into the store
// before the store's own constructor has run (run-dlopen.sh, with
// early_ctor_main.c): it is not linked against the store's library, so the
// loader runs its constructor first, and its calls bind through the main
// program's scope. The store then runs its set-up inside that call; a
// thread and a forked child use the store too.
#include "check.h"

ctl_slot early_slot;
int early_created = -1, early_stored = -1, early_child = -1;

static void *store_on_thread(void *arg) {
    (void)arg;
    CHECK(ctl_set_uword(early_slot, 3));
    return NULL;
}

__attribute__((constructor)) static void early(void) {
    early_created = ctl_slot_create(&early_slot, NULL, NULL);
    early_stored = ctl_set_uword(early_slot, 9);
    join_thread(start_thread(store_on_thread, NULL));
    pid_t child = fork();
    if (child == 0) {
        ctl_slot s;
        _exit(ctl_slot_create(&s, NULL, NULL) == CTL_OK && ctl_set_uword(s, 1) && ctl_slot_destroy(s) == CTL_OK ? 0
                                                                                                                : 1);
    }
    early_child = wait_child(child, 10);
}
