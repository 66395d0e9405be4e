// SPDX-License-Identifier: Apache-2.0
// Regression: ctl_slot_destroy called while holding a mutex that an exiting
// thread's destructor of that slot needs (a registry the values unregister
// from). The destroy does not wait for destructor calls that exiting threads
// have begun, so it returns; the exiting thread then gets the mutex, destroys
// its value, and joining it waits for that. A hang fails through alarm().
#include "check.h"

static ctl_slot slot;
static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER;
static atomic_int in_destructor, calls;

static void unregister(ctl_value value, void *context) {
    (void)value;
    (void)context;
    atomic_store(&in_destructor, 1);
    pthread_mutex_lock(&registry);
    atomic_fetch_add(&calls, 1);
    pthread_mutex_unlock(&registry);
}

static void *body(void *arg) {
    (void)arg;
    CHECK(ctl_set_uword(slot, 1));
    return NULL;  // exits: its destructor call is in flight
}

int main(void) {
    alarm(30);
    slot = make_slot(unregister, NULL);
    uint32_t number = slot.index;
    pthread_mutex_lock(&registry);
    pthread_t thread = start_thread(body, NULL);
    while (!atomic_load(&in_destructor)) sleep_ns(100000);
    CHECK_EQ(ctl_slot_destroy(slot), CTL_OK);  // with the registry held
    CHECK_EQ(atomic_load(&calls), 0);          // still waiting for the registry
    pthread_mutex_unlock(&registry);
    join_thread(thread);
    CHECK_EQ(atomic_load(&calls), 1);
    // The exiting thread's call has ended: the number is free again.
    ctl_slot again = make_slot(NULL, NULL);
    CHECK_EQ(again.index, number);
    CHECK_EQ(ctl_slot_destroy(again), CTL_OK);
    return finish("destroy_holding_lock");
}
