// SPDX-License-Identifier: Apache-2.0
// Regression: two copies of the store (the same library under two names,
// dlopened RTLD_LOCAL). Two threads exit at the same time, each running an
// exit-time destructor of one copy that destroys a slot of the other copy; a
// barrier keeps both destructor calls in flight at once. No destroy waits
// for another thread's destructor call, so both return and both threads end.
// A hang fails through alarm().
//
// Usage: dlopen_cross <library 1> <library 2>
#include "check.h"

#include <dlfcn.h>

typedef struct copy {
    int (*create)(ctl_slot *, ctl_destructor, void *);
    int (*destroy)(ctl_slot);
    bool (*set)(ctl_slot, uintptr_t);
    ctl_slot slot;
    atomic_int calls, destroyed_other;
} copy;

static copy copies[2];
static barrier both_in_flight;

// The destructor of copy `*context`'s slot: destroys the other copy's slot.
static void destroy_other(ctl_value value, void *context) {
    (void)value;
    copy *mine = context;
    copy *other = mine == &copies[0] ? &copies[1] : &copies[0];
    atomic_fetch_add(&mine->calls, 1);
    barrier_wait(&both_in_flight);
    if (other->destroy(other->slot) == CTL_OK) atomic_fetch_add(&mine->destroyed_other, 1);
}

static void *body(void *arg) {
    copy *c = arg;
    CHECK(c->set(c->slot, 1));
    return NULL;  // exits: destroy_other runs in this copy's exit sweep
}

int main(int argc, char **argv) {
    REQUIRE(argc == 3);
    alarm(30);
    for (int i = 0; i < 2; i++) {
        void *handle = dlopen(argv[1 + i], RTLD_NOW | RTLD_LOCAL);
        if (handle == NULL) {
            printf("dlopen %s: %s\n", argv[1 + i], dlerror());
            return 1;
        }
        copy *c = &copies[i];
        *(void **)&c->create = dlsym(handle, "ctl_slot_create");
        *(void **)&c->destroy = dlsym(handle, "ctl_slot_destroy");
        *(void **)&c->set = dlsym(handle, "dl_set");
        REQUIRE(c->create && c->destroy && c->set);
        REQUIRE(c->create(&c->slot, destroy_other, c) == CTL_OK);
    }
    REQUIRE(copies[0].create != copies[1].create);  // two copies, not one
    barrier_init(&both_in_flight, 2);
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) threads[i] = start_thread(body, &copies[i]);
    for (int i = 0; i < 2; i++) join_thread(threads[i]);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(atomic_load(&copies[i].calls), 1);
        CHECK_EQ(atomic_load(&copies[i].destroyed_other), 1);
        // The other thread's call has ended: the number is free again.
        ctl_slot again;
        CHECK_EQ(copies[i].create(&again, NULL, NULL), CTL_OK);
        CHECK_EQ(again.index, copies[i].slot.index);
        CHECK_EQ(copies[i].destroy(again), CTL_OK);
    }
    barrier_destroy(&both_in_flight);
    return finish("dlopen_cross");
}
