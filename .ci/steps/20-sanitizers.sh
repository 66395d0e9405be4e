#!/usr/bin/env bash
# The test suites under ThreadSanitizer and AddressSanitizer (leak detection on).
# Scratch paths live under .build/: SwiftPM skips that folder when it scans the
# C target, whose path is the package root. --disable-xctest: the suites are
# Swift Testing; XCTest's own runner leaks a few objects at exit.
set -euo pipefail
TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" \
    swift test --sanitize=thread --scratch-path .build/tsan --disable-xctest
ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}" \
    swift test --sanitize=address --scratch-path .build/asan --disable-xctest
