// SPDX-License-Identifier: Apache-2.0
// Linked with the store's library and then early_ctor_lib.c's (which the
// loader therefore initialises first): the store works after a first call
// made before its own constructor ran (it hung in pthread_once when the
// first call pinned the object), and is pinned by its constructor.
#include "check.h"

extern ctl_slot early_slot;
extern int early_created, early_stored, early_child;

int main(void) {
    CHECK_EQ(early_created, CTL_OK);
    CHECK_EQ(early_stored, 1);
    CHECK_EQ(early_child, 0);
    CHECK_EQ(ctl_get_uword(early_slot), 9);
    CHECK_EQ(ctl_slot_destroy(early_slot), CTL_OK);
    return finish("early_ctor");
}
