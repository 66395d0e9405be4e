#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds Tests/CStoreTests/cxx_consumer.cpp, a C++17 program that includes the
# store's header, with each C++ compiler in CXX_COMPILERS (default: "g++ clang++"),
# links it with the store compiled by CC (default: cc), runs it, and prints
# "N passed, M failed" (exit status 1 if M > 0). STORE_C and STORE_INCLUDE as in run.sh.
set -uo pipefail

source "$(dirname "$0")/settings.sh"

passed=0
failed=0
if ! $cc -I "$store_include" -pthread -c "$store_c" -o "$work/store.o"; then
    echo "0 passed, 1 failed"
    exit 1
fi
for cxx in ${CXX_COMPILERS:-g++ clang++}; do
    name="cxx_consumer ($cxx -std=c++17)"
    if ! $cxx -std=c++17 -Wall -Wextra -I "$store_include" -pthread "$here/cxx_consumer.cpp" "$work/store.o" \
        -o "$work/consumer" 2>"$work/build.log"; then
        head -n 20 "$work/build.log" | sed 's/^/      /'
        echo "FAIL  $name (does not build)"
        failed=$((failed + 1))
        continue
    fi
    if timeout -k 5 "${TIMEOUT:-60}" "$work/consumer" >"$work/out" 2>&1; then
        echo "ok    $name"
        passed=$((passed + 1))
    else
        sed 's/^/      /' "$work/out"
        echo "FAIL  $name"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
