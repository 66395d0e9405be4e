// SPDX-License-Identifier: Apache-2.0
// Single-thread behaviour of the slot API: the typed accessors, ctl_take,
// lazy initialisation, the zero-initialized handle, and stale handles after
// destroy (also once the slot number is reused).
#include "check.h"

#include <math.h>

static void typed_accessors(ctl_slot s) {
    CHECK(ctl_slot_is_live(s));
    CHECK(!ctl_has_value(s));
    CHECK(ctl_value_pointer(s) == NULL);
    CHECK(ctl_get_ptr(s) == NULL);
    CHECK_EQ(ctl_get_uword(s), 0);
    CHECK(ctl_get_u64(s) == 0);
    CHECK_EQ(ctl_get_i64(s), 0);
    CHECK(ctl_get_f64(s) == 0.0);
    ctl_value fallback;
    fallback.uword = 4242;
    CHECK_EQ(ctl_get(s, fallback).uword, 4242);

    int object = 0;
    CHECK(ctl_set_ptr(s, &object));
    CHECK(ctl_has_value(s));
    CHECK(ctl_get_ptr(s) == &object);
    CHECK(ctl_get(s, fallback).ptr == &object);

    CHECK(ctl_set_uword(s, UINTPTR_MAX));
    CHECK(ctl_get_uword(s) == UINTPTR_MAX);
    CHECK(ctl_set_uword(s, 0));
    CHECK(ctl_has_value(s));  // a stored 0 is a value
    CHECK_EQ(ctl_get_uword(s), 0);

    CHECK(ctl_set_u64(s, UINT64_C(0x0123456789abcdef)));
    CHECK(ctl_get_u64(s) == UINT64_C(0x0123456789abcdef));
    CHECK(ctl_set_u64(s, UINT64_MAX));
    CHECK(ctl_get_u64(s) == UINT64_MAX);

    CHECK(ctl_set_i64(s, INT64_MIN));
    CHECK(ctl_get_i64(s) == INT64_MIN);
    CHECK(ctl_set_i64(s, -1));
    CHECK_EQ(ctl_get_i64(s), -1);

    CHECK(ctl_set_f64(s, -2.75));
    CHECK(ctl_get_f64(s) == -2.75);
    // A cast: on i386 (FLT_EVAL_METHOD 2) the literal itself has long double precision.
    const double big = (double)1e300;
    CHECK(ctl_set_f64(s, big));
    CHECK(ctl_get_f64(s) == big);
    CHECK(ctl_set_f64(s, -0.0));
    CHECK(ctl_get_f64(s) == 0.0 && signbit(ctl_get_f64(s)));

    // In place through the pointer.
    CHECK(ctl_set_i64(s, 10));
    ctl_value *p = ctl_value_pointer(s);
    CHECK(p != NULL);
    if (p) {
        p->i64 += 5;
        CHECK_EQ(ctl_get_i64(s), 15);
        CHECK(ctl_value_pointer(s) == p);  // storage does not move
    }

    // ctl_take: removes without destroying.
    ctl_value taken;
    taken.uword = 0;
    CHECK(ctl_take(s, &taken));
    CHECK_EQ(taken.i64, 15);
    CHECK(!ctl_has_value(s));
    CHECK_EQ(ctl_get_i64(s), 0);
    CHECK(!ctl_take(s, &taken));
    CHECK(!ctl_take(s, NULL));
    CHECK(ctl_set_uword(s, 99));
    CHECK(ctl_take(s, NULL));
    CHECK(!ctl_has_value(s));
    CHECK(ctl_set_uword(s, 100));
    CHECK_EQ(ctl_get_uword(s), 100);
}

static void lazy_initialization(ctl_slot s) {
    CHECK(ctl_take(s, NULL) || !ctl_has_value(s));
    CHECK_EQ(ctl_begin_initialization(s), CTL_OK);
    CHECK(!ctl_has_value(s));  // reads as empty while the mark is set
    CHECK_EQ(ctl_get_uword(s), 0);
    CHECK_EQ(ctl_begin_initialization(s), CTL_EBUSY);
    ctl_value v;
    v.uword = 7;
    CHECK(ctl_finish_initialization(s, v));
    CHECK(ctl_has_value(s));
    CHECK_EQ(ctl_get_uword(s), 7);
    CHECK_EQ(ctl_begin_initialization(s), CTL_EEXIST);
    v.uword = 8;
    CHECK(!ctl_finish_initialization(s, v));  // no mark: nothing stored
    CHECK_EQ(ctl_get_uword(s), 7);

    // Cancel.
    CHECK(ctl_take(s, NULL));
    CHECK_EQ(ctl_begin_initialization(s), CTL_OK);
    ctl_cancel_initialization(s);
    CHECK(!ctl_has_value(s));
    CHECK(!ctl_finish_initialization(s, v));
    CHECK(!ctl_has_value(s));
    ctl_cancel_initialization(s);  // no mark: no effect
    CHECK(!ctl_has_value(s));

    // The initialiser stores the value itself: finish stores nothing.
    CHECK_EQ(ctl_begin_initialization(s), CTL_OK);
    CHECK(ctl_set_uword(s, 11));
    CHECK_EQ(ctl_get_uword(s), 11);
    v.uword = 12;
    CHECK(!ctl_finish_initialization(s, v));
    CHECK_EQ(ctl_get_uword(s), 11);
    CHECK_EQ(ctl_begin_initialization(s), CTL_EEXIST);
    CHECK(ctl_take(s, NULL));
}

// The zero-initialized handle names no slot, also while slot number 0 is live;
// nor do made-up handles.
static void zero_handle(void) {
    ctl_slot zero;
    memset(&zero, 0, sizeof zero);
    CHECK(!ctl_slot_is_live(zero));
    CHECK(!ctl_has_value(zero));
    CHECK(ctl_value_pointer(zero) == NULL);
    CHECK(ctl_get_ptr(zero) == NULL);
    CHECK(!ctl_set_uword(zero, 1));
    CHECK(!ctl_set_ptr(zero, &zero));
    CHECK(!ctl_has_value(zero));
    CHECK(!ctl_take(zero, NULL));
    CHECK_EQ(ctl_begin_initialization(zero), CTL_EINVAL);
    ctl_value v;
    v.uword = 1;
    CHECK(!ctl_finish_initialization(zero, v));
    ctl_cancel_initialization(zero);
    CHECK_EQ(ctl_slot_destroy(zero), CTL_EINVAL);

    // Handles not made by ctl_slot_create: a generation never handed out, and
    // a number beyond the slot table in the chunk lane.
    ctl_slot never = {.ctl__lane = 3, .generation = 12345, .index = 3};
    ctl_slot beyond = {.ctl__lane = CTL_LANE_COUNT, .generation = 1, .index = 4000000000u};
    CHECK(!ctl_slot_is_live(never));
    CHECK(!ctl_has_value(never));
    CHECK(!ctl_set_uword(never, 1));
    CHECK_EQ(ctl_slot_destroy(never), CTL_EINVAL);
    CHECK(!ctl_slot_is_live(beyond));
    CHECK(!ctl_has_value(beyond));
    CHECK(!ctl_set_uword(beyond, 1));
    CHECK_EQ(ctl_begin_initialization(beyond), CTL_EINVAL);
    CHECK_EQ(ctl_slot_destroy(beyond), CTL_EINVAL);
}

static atomic_int destroyed_count;
static uintptr_t destroyed_value;
static void record(ctl_value value, void *context) {
    CHECK(context == &destroyed_count);
    destroyed_value = value.uword;
    atomic_fetch_add(&destroyed_count, 1);
}

// Destroy runs the destructor for the thread's value once; the handle is dead
// afterwards, and stays dead after its number is reused.
static void destroy_and_stale_handles(void) {
    ctl_stats before = ctl_get_stats();
    ctl_slot a = make_slot(record, &destroyed_count);
    CHECK_EQ(ctl_get_stats().live_slots, before.live_slots + 1);
    CHECK(ctl_set_uword(a, 31));
    CHECK(ctl_take(a, NULL));  // taken: not destroyed
    CHECK(ctl_set_uword(a, 32));
    CHECK_EQ(atomic_load(&destroyed_count), 0);
    CHECK_EQ(ctl_slot_destroy(a), CTL_OK);
    CHECK_EQ(atomic_load(&destroyed_count), 1);
    CHECK_EQ(destroyed_value, 32);
    CHECK_EQ(ctl_get_stats().live_slots, before.live_slots);
    CHECK(!ctl_slot_is_live(a));
    CHECK(!ctl_has_value(a));
    CHECK(!ctl_set_uword(a, 33));
    CHECK(!ctl_has_value(a));
    CHECK_EQ(ctl_begin_initialization(a), CTL_EINVAL);
    CHECK(!ctl_take(a, NULL));
    CHECK_EQ(ctl_slot_destroy(a), CTL_EINVAL);
    CHECK_EQ(atomic_load(&destroyed_count), 1);

    // A destroyed slot with no values: the destructor is not called.
    ctl_slot empty = make_slot(record, &destroyed_count);
    CHECK_EQ(ctl_slot_destroy(empty), CTL_OK);
    CHECK_EQ(atomic_load(&destroyed_count), 1);

    // Reuse of the number: create slots until one gets a's number.
    enum { limit = 1000 };
    ctl_slot made[limit];
    int count = 0;
    ctl_slot b;
    int found = 0;
    while (count < limit) {
        b = make_slot(record, &destroyed_count);
        made[count++] = b;
        if (b.index == a.index) {
            found = 1;
            break;
        }
    }
    CHECK(found);
    if (found) {
        CHECK(b.generation != a.generation);
        CHECK(ctl_slot_is_live(b));
        CHECK(!ctl_slot_is_live(a));
        CHECK(!ctl_has_value(b));  // no value left by a
        CHECK(ctl_set_uword(b, 40));
        CHECK(!ctl_has_value(a));
        CHECK(ctl_get_ptr(a) == NULL);
        CHECK(!ctl_set_uword(a, 41));
        CHECK(!ctl_take(a, NULL));
        CHECK_EQ(ctl_begin_initialization(a), CTL_EINVAL);
        CHECK_EQ(ctl_slot_destroy(a), CTL_EINVAL);
        CHECK(ctl_slot_is_live(b));
        CHECK_EQ(ctl_get_uword(b), 40);
    }
    for (int i = 0; i < count; i++) CHECK_EQ(ctl_slot_destroy(made[i]), CTL_OK);
    CHECK_EQ(atomic_load(&destroyed_count), 1 + found);
    CHECK_EQ(ctl_get_stats().live_slots, before.live_slots);
}

int main(void) {
    // Slot 0 exists while the zero handle is tried.
    ctl_slot first = make_slot(NULL, NULL);
    CHECK(ctl_set_uword(first, 5));
    zero_handle();
    CHECK_EQ(ctl_get_uword(first), 5);

    // A slot in a lane and one beyond the 64 lanes.
    enum { count = CTL_LANE_COUNT + 6 };
    ctl_slot slots[count];
    for (int i = 0; i < count; i++) slots[i] = make_slot(NULL, NULL);
    typed_accessors(slots[3]);
    typed_accessors(slots[count - 1]);
    lazy_initialization(slots[4]);
    lazy_initialization(slots[count - 2]);
    CHECK_EQ(ctl_get_uword(slots[3]), 100);
    CHECK_EQ(ctl_get_uword(slots[count - 1]), 100);
    for (int i = 0; i < count; i++) CHECK_EQ(ctl_slot_destroy(slots[i]), CTL_OK);

    destroy_and_stale_handles();
    CHECK_EQ(ctl_slot_destroy(first), CTL_OK);
    CHECK_EQ(ctl_get_stats().live_slots, 0);
    return finish("basic");
}
