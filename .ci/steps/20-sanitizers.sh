#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The test suites under ThreadSanitizer and AddressSanitizer (leak detection
# on), in debug and in release builds: release builds end an object's lifetime
# after its last use, which debug builds never show.
# Scratch paths live under .build/: SwiftPM skips that folder when it scans the
# C target, whose path is the package root. --disable-xctest: the suites are
# Swift Testing; XCTest's own runner leaks a few objects at exit.
set -euo pipefail
# The suites that fork run in a process of their own: a child forked while
# other suites' threads run in a sanitizer's runtime (or the Swift runtime's
# metadata locks) can inherit one of its locks held; under ThreadSanitizer
# such a child once hung in one of about six runs, never with the fork
# suites alone.
forking='Stress.Fork|Stress.AggregateFork'
for configuration in debug release; do
    echo "--- ThreadSanitizer, $configuration"
    for selection in --skip --filter; do
        TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" \
            swift test -c "$configuration" --sanitize=thread --scratch-path ".build/tsan-$configuration" \
            --disable-xctest "$selection" "$forking"
    done
    echo "--- AddressSanitizer, $configuration"
    for selection in --skip --filter; do
        ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}" \
            swift test -c "$configuration" --sanitize=address --scratch-path ".build/asan-$configuration" \
            --disable-xctest "$selection" "$forking"
    done
done
# The lifetime suite once more in a plain release build, with glibc's malloc
# overwriting freed memory and keeping no per-thread cache: a use after free
# gives a wrong value even without a sanitizer.
echo "--- release, freed memory overwritten"
GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.perturb=165 \
    swift test -c release --scratch-path .build/release --disable-xctest --filter 'Lifetime|ValueManagement'
