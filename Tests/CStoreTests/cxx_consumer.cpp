// SPDX-License-Identifier: Apache-2.0
// A C++17 program that includes the store's header and uses the slot API:
// the header must compile as C++ (g++ and clang++) and link with the C store.
#include "CThreadLocals.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

static int failures = 0;
#define EXPECT(cond)                                                                       \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            std::fprintf(stderr, "%s:%d: EXPECT failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static std::atomic<int> destroyed{0};

extern "C" void count_destroyed(ctl_value value, void *context) {
    static_cast<std::atomic<int> *>(context)->fetch_add(1);
    delete static_cast<int *>(value.ptr);
}

int main() {
    ctl_slot slot;
    EXPECT(ctl_slot_create(&slot, count_destroyed, &destroyed) == CTL_OK);
    ctl_slot counter;
    EXPECT(ctl_slot_create(&counter, nullptr, nullptr) == CTL_OK);

    std::vector<std::thread> threads;
    std::atomic<int> wrong{0};
    for (int t = 0; t < 4; t++) {
        threads.emplace_back([&, t] {
            if (ctl_has_value(slot)) wrong++;
            if (!ctl_set_ptr(slot, new int(t))) wrong++;
            for (int i = 0; i < 1000; i++) ctl_set_i64(counter, ctl_get_i64(counter) + 1);
            if (*static_cast<int *>(ctl_get_ptr(slot)) != t) wrong++;
            if (ctl_get_i64(counter) != 1000) wrong++;
            ctl_value *p = ctl_value_pointer(counter);
            if (p == nullptr || p->i64 != 1000) wrong++;
        });
    }
    for (auto &thread : threads) thread.join();
    EXPECT(wrong.load() == 0);
    EXPECT(destroyed.load() == 4);

    // Lazy initialisation and the typed accessors on this thread.
    EXPECT(ctl_begin_initialization(slot) == CTL_OK);
    EXPECT(ctl_begin_initialization(slot) == CTL_EBUSY);
    ctl_value v;
    v.ptr = new int(42);
    EXPECT(ctl_finish_initialization(slot, v));
    EXPECT(*static_cast<int *>(ctl_get_ptr(slot)) == 42);
    EXPECT(ctl_set_f64(counter, 0.5) && ctl_get_f64(counter) == 0.5);
    EXPECT(ctl_set_u64(counter, UINT64_MAX) && ctl_get_u64(counter) == UINT64_MAX);
    EXPECT(ctl_set_uword(counter, 3) && ctl_get_uword(counter) == 3);
    ctl_value taken;
    EXPECT(ctl_take(counter, &taken) && taken.uword == 3);

    EXPECT(ctl_slot_destroy(slot) == CTL_OK);
    EXPECT(destroyed.load() == 5);
    EXPECT(!ctl_slot_is_live(slot));
    EXPECT(ctl_slot_destroy(counter) == CTL_OK);
    EXPECT(ctl_get_stats().live_slots == 0);
    if (failures) {
        std::printf("cxx_consumer: %d check(s) failed\n", failures);
        return 1;
    }
    std::printf("cxx_consumer: ok\n");
    return 0;
}
