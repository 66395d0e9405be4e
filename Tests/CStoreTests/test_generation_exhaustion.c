// SPDX-License-Identifier: Apache-2.0
// A slot number whose generation would pass the maximum (0x7ffffffe) is
// retired, never reused: a stale handle never matches again. Driving one
// number through every generation takes 2^30 create/destroy cycles (about
// 4 minutes here), so this program runs only with CTL_TEST_EXHAUST=1;
// otherwise it reports itself skipped (exit status 77). CI builds it with the
// store's test override -DCTL__MAX_GENERATION=1000, which makes it quick.
#include "check.h"

int main(void) {
    const char *enabled = getenv("CTL_TEST_EXHAUST");
    if (enabled == NULL || strcmp(enabled, "1") != 0) {
        printf("generation_exhaustion: skipped (2^30 cycles; set CTL_TEST_EXHAUST=1 to run)\n");
        return 77;
    }
    ctl_slot first = make_slot(NULL, NULL);
    CHECK_EQ(ctl_slot_destroy(first), CTL_OK);
    const uint64_t limit = UINT64_C(0x80000010);
    uint64_t cycles = 0;
    int retired = 0;
    for (; cycles < limit; cycles++) {
        ctl_slot s = make_slot(NULL, NULL);
        if (s.index != first.index) {
            retired = 1;
            CHECK_EQ(ctl_slot_destroy(s), CTL_OK);
            break;
        }
        if (s.generation == first.generation) {
            fprintf(stderr, "after %llu cycles slot %u has generation %u again\n", (unsigned long long)cycles, s.index,
                    s.generation);
            CHECK(!ctl_slot_is_live(first));
            check_failures++;
            break;
        }
        CHECK_EQ(ctl_slot_destroy(s), CTL_OK);
    }
    if (retired) printf("number %u retired after %llu cycles\n", first.index, (unsigned long long)cycles);
    CHECK(retired);
    CHECK(!ctl_slot_is_live(first));
    CHECK(!ctl_set_uword(first, 1));
    return finish("generation_exhaustion");
}
