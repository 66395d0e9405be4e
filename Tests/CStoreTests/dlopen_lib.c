// SPDX-License-Identifier: Apache-2.0
// Built together with the store into a shared library for the dlopen test
// (run-dlopen.sh): the inline accessors compiled here use this library's own
// copy of the store's thread-local storage.
#include "CThreadLocals.h"

bool dl_set(ctl_slot slot, uintptr_t value) { return ctl_set_uword(slot, value); }
uintptr_t dl_get(ctl_slot slot) { return ctl_get_uword(slot); }
bool dl_has(ctl_slot slot) { return ctl_has_value(slot); }
