// SPDX-License-Identifier: Apache-2.0
// C helpers that the Swift test suites need and Swift cannot express. The C
// store's own scenarios live in Tests/CStoreTests, one program each, run on
// every platform configuration and sanitizer of .ci/steps/25-c-store.sh; the
// C API as Swift imports it is tested in Tests/ThreadLocalsTests/CAPITests.swift.
#ifndef CTHREADLOCALS_TEST_HARNESS_H
#define CTHREADLOCALS_TEST_HARNESS_H

/// Bytes the C heap has handed out and not taken back (glibc's `mallinfo2`:
/// every arena, plus mmapped blocks), or 0 where that is not known. The churn
/// stress test compares it before and after.
unsigned long long cth_heap_in_use(void);

#endif
