// SPDX-License-Identifier: Apache-2.0
// Loads N copies of the store, each a shared library under its own name, with
// dlopen (default tunables), and uses a slot in each from two threads and the
// main thread. Every copy has its own thread-local storage: the same slot
// handle in two copies names two different values.
//
// Usage: dlopen_main <folder> <count>   (libraries <folder>/libctlstore_<i>.so)
#include "check.h"

#include <dlfcn.h>

enum { max_copies = 64 };

typedef struct library {
    int (*create)(ctl_slot *, ctl_destructor, void *);
    int (*destroy)(ctl_slot);
    bool (*set)(ctl_slot, uintptr_t);
    uintptr_t (*get)(ctl_slot);
    bool (*has)(ctl_slot);
    ctl_slot slot;
    atomic_int destroyed;
} library;

static library libs[max_copies];
static int loaded;

static void count(ctl_value value, void *context) {
    (void)value;
    atomic_fetch_add((atomic_int *)context, 1);
}

static void *body(void *arg) {
    uintptr_t thread = (uintptr_t)arg;
    for (int i = 0; i < loaded; i++) {
        CHECK(!libs[i].has(libs[i].slot));
        CHECK(libs[i].set(libs[i].slot, thread * 1000 + (uintptr_t)i));
    }
    for (int i = 0; i < loaded; i++) CHECK_EQ(libs[i].get(libs[i].slot), thread * 1000 + (uintptr_t)i);
    return NULL;
}

int main(int argc, char **argv) {
    REQUIRE(argc == 3);
    int copies = atoi(argv[2]);
    REQUIRE(copies > 0 && copies <= max_copies);
    for (int i = 0; i < copies; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/libctlstore_%d.so", argv[1], i);
        void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (handle == NULL) {
            printf("copy %d: dlopen failed: %s\n", i, dlerror());
            continue;
        }
        library *l = &libs[loaded++];
        *(void **)&l->create = dlsym(handle, "ctl_slot_create");
        *(void **)&l->destroy = dlsym(handle, "ctl_slot_destroy");
        *(void **)&l->set = dlsym(handle, "dl_set");
        *(void **)&l->get = dlsym(handle, "dl_get");
        *(void **)&l->has = dlsym(handle, "dl_has");
        REQUIRE(l->create && l->destroy && l->set && l->get && l->has);
    }
    printf("loaded %d of %d copies\n", loaded, copies);
    CHECK_EQ(loaded, copies);

    for (int i = 0; i < loaded; i++) {
        atomic_init(&libs[i].destroyed, 0);
        CHECK_EQ(libs[i].create(&libs[i].slot, count, &libs[i].destroyed), CTL_OK);
    }
    pthread_t a = start_thread(body, (void *)1), b = start_thread(body, (void *)2);
    join_thread(a);
    join_thread(b);
    for (int i = 0; i < loaded; i++) {
        CHECK_EQ(atomic_load(&libs[i].destroyed), 2);  // both threads' values, at their exit
        CHECK(libs[i].set(libs[i].slot, (uintptr_t)i));
    }
    for (int i = 0; i < loaded; i++) CHECK_EQ(libs[i].get(libs[i].slot), i);
    for (int i = 0; i < loaded; i++) {
        CHECK_EQ(libs[i].destroy(libs[i].slot), CTL_OK);
        CHECK_EQ(atomic_load(&libs[i].destroyed), 3);
    }
    return finish("dlopen");
}
