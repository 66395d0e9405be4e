// SPDX-License-Identifier: Apache-2.0
// `mallinfo2` is glibc 2.33 or later; the version test is a C preprocessor
// condition, which Swift cannot evaluate.
#include "CThreadLocalsTestHarness.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

unsigned long long cth_heap_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    struct mallinfo2 info = mallinfo2();
    return (unsigned long long)info.uordblks + (unsigned long long)info.hblkhd;
#else
    return 0;
#endif
}
