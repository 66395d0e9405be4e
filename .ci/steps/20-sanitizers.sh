#!/usr/bin/env bash
# The test suites under ThreadSanitizer and AddressSanitizer (leak detection on).
set -euo pipefail
swift test --sanitize=thread --scratch-path .build-tsan
ASAN_OPTIONS=detect_leaks=1 swift test --sanitize=address --scratch-path .build-asan
