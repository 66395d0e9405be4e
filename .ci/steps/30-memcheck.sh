#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One run of the churn stress test (CI size: 5,000 short-lived threads), built
# in release mode (what users run), under
# valgrind's memcheck: no invalid access, and no definite or indirect leak.
#
# Two workarounds for valgrind 3.19 (Debian 12):
# - it cannot read the toolchain's DWARF 5 debug info, so it runs a copy of the
#   test binary with the debug info stripped (symbol names remain);
# - its rt_sigsuspend wrapper writes to the caller's signal mask, and the
#   Swift Testing runner's async main parks the main thread in libdispatch's
#   sigsuspend with a mask in read-only memory: valgrind itself dies with
#   SIGSEGV. A two-line preload passes sigsuspend a writable copy.
set -euo pipefail
bash .ci/install-tools.sh valgrind objcopy
# -enable-testing: some suites use @testable (swift test adds it itself).
swift build -c release --build-tests --scratch-path .build/release -Xswiftc -enable-testing
bin=$(swift build -c release --scratch-path .build/release --show-bin-path)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

objcopy --strip-debug "$bin/swift-thread-localPackageTests.xctest" "$work/tests"

cat >"$work/sigsuspend.c" <<'C'
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, (size_t)8);
}
C
cc -shared -fPIC -O2 -o "$work/sigsuspend.so" "$work/sigsuspend.c"

LD_PRELOAD="$work/sigsuspend.so" valgrind --tool=memcheck --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=1 \
    "$work/tests" --testing-library swift-testing --filter 'Stress/Churn' 2>&1 | tee "$work/log"
# The filter must have matched the churn test (valgrind exits 0 on 0 tests).
grep -q 'churn: short-lived threads release every value once.* passed' "$work/log"
grep -E 'definitely lost|indirectly lost|ERROR SUMMARY' "$work/log"
