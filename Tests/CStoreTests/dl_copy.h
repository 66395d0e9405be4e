// SPDX-License-Identifier: Apache-2.0
// A copy of the store loaded with dlopen, for the dlopen programs
// (run-dlopen.sh): its handle, the store's create and destroy, and the
// accessors that dlopen_lib.c compiles into the copy. Include after check.h.
#ifndef CSTORE_DL_COPY_H
#define CSTORE_DL_COPY_H

#include <dlfcn.h>

typedef struct dl_copy {
    void *handle;
    int (*create)(ctl_slot *, ctl_destructor, void *);
    int (*destroy)(ctl_slot);
    bool (*set)(ctl_slot, uintptr_t);
    uintptr_t (*get)(ctl_slot);
    bool (*has)(ctl_slot);
} dl_copy;

// Loads the library at `path` with `flags`; stops the program if it cannot.
static inline dl_copy dl_copy_load(const char *path, int flags) {
    dl_copy c = {.handle = dlopen(path, flags)};
    if (c.handle == NULL) fprintf(stderr, "dlopen: %s\n", dlerror());
    REQUIRE(c.handle != NULL);
    *(void **)&c.create = dlsym(c.handle, "ctl_slot_create");
    *(void **)&c.destroy = dlsym(c.handle, "ctl_slot_destroy");
    *(void **)&c.set = dlsym(c.handle, "dl_set");
    *(void **)&c.get = dlsym(c.handle, "dl_get");
    *(void **)&c.has = dlsym(c.handle, "dl_has");
    REQUIRE(c.create && c.destroy && c.set && c.get && c.has);
    return c;
}

#endif  // CSTORE_DL_COPY_H
