// SPDX-License-Identifier: Apache-2.0
// Regression: a destructor run at thread exit destroys ANOTHER slot that the
// exiting thread also holds. The destroy must not wait for the exiting thread
// itself (which would never come back to it): the thread is joined, and each
// value is destroyed once. Both orders: the other slot not yet swept (higher
// number) and already swept (lower number). Also from a running thread.
#include "check.h"

static ctl_slot a, b;
static atomic_int a_calls, b_calls, destroy_b_ok;

static void destroy_a_value(ctl_value value, void *context) {
    (void)value;
    (void)context;
    atomic_fetch_add(&a_calls, 1);
    if (ctl_slot_destroy(b) == CTL_OK) atomic_fetch_add(&destroy_b_ok, 1);
}

static void *body(void *arg) {
    (void)arg;
    CHECK(ctl_set_uword(a, 1));
    CHECK(ctl_set_uword(b, 2));
    return NULL;
}

static void reset(void) {
    atomic_store(&a_calls, 0);
    atomic_store(&b_calls, 0);
    atomic_store(&destroy_b_ok, 0);
}

static void check_outcome(const char *label) {
    if (atomic_load(&a_calls) != 1 || atomic_load(&b_calls) != 1 || atomic_load(&destroy_b_ok) != 1) {
        fprintf(stderr, "%s: a's destructor %d calls, b's %d, destroy(b) succeeded %d times (expected 1, 1, 1)\n",
                label, atomic_load(&a_calls), atomic_load(&b_calls), atomic_load(&destroy_b_ok));
        check_failures++;
    }
    CHECK(!ctl_slot_is_live(b));
    CHECK_EQ(ctl_slot_destroy(a), CTL_OK);
    CHECK_EQ(atomic_load(&a_calls), 1);  // no value left
}

// Makes a and b in the order given (the lower number is swept first), lets a
// thread that holds a value in both exit, and checks the outcome.
static void exit_with_values(bool a_first, const char *label) {
    reset();
    if (a_first) {
        a = make_slot(destroy_a_value, NULL);
        b = make_slot(count_call, &b_calls);
    } else {
        b = make_slot(count_call, &b_calls);
        a = make_slot(destroy_a_value, NULL);
    }
    REQUIRE((a.index < b.index) == a_first);
    join_thread(start_thread(body, NULL));
    check_outcome(label);
}

int main(void) {
    // b after a: b is not yet swept when a's destructor destroys it.
    exit_with_values(true, "b above a");
    // b before a: already swept (its value destroyed) when a's destructor runs.
    exit_with_values(false, "b below a");

    // A running thread destroys a; a's destructor destroys b.
    reset();
    a = make_slot(destroy_a_value, NULL);
    b = make_slot(count_call, &b_calls);
    body(NULL);
    CHECK_EQ(ctl_slot_destroy(a), CTL_OK);
    CHECK_EQ(atomic_load(&a_calls), 1);
    CHECK_EQ(atomic_load(&b_calls), 1);
    CHECK_EQ(atomic_load(&destroy_b_ok), 1);
    CHECK(!ctl_slot_is_live(a) && !ctl_slot_is_live(b));
    return finish("exit_destroys_other_slot");
}
