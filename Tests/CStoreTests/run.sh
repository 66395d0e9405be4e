#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds and runs the C test programs of the slot store (Tests/CStoreTests/test_*.c),
# each linked with the store's C file, and prints one closing line:
# "N passed, M failed" (exit status 1 if M > 0).
#
# Environment:
#   CC         compiler (default: cc)
#   CFLAGS     extra flags for the store and the tests (e.g. -m32, -static, -fsanitize=thread)
#   EMULATOR   command that runs each program (e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu")
#   TIMEOUT    seconds per program before it counts as hung (default: 60)
#   STORE_C    the store's C file (default: Sources/CThreadLocals/CThreadLocals.c)
#   STORE_INCLUDE  the folder with CThreadLocals.h (default: include)
#   CTL_TEST_SMALL=1  smaller sizes in the heavy programs (read by the programs)
#   TESTS      space-separated program names to run (default: all), e.g. "basic fork"
#   CTL_TEST_EXHAUST=1  also run generation_exhaustion (2^30 cycles, minutes); skipped otherwise
#
# A program that exits with status 77 is reported as skipped, and counted in
# neither number.
set -uo pipefail

source "$(dirname "$0")/settings.sh"
# The store counts the entries its slow paths visit, for the tests to read.
cflags+=(-DCTL_TESTING)
read -r -a emulator <<<"${EMULATOR:-}"
timeout_seconds=${TIMEOUT:-60}

passed=0
failed=0
skipped=0
echo "CC=$cc CFLAGS=${CFLAGS:-} EMULATOR=${EMULATOR:-} store=$store_c"

# The store is compiled once, with the compiler's default language mode; the
# tests are plain C11 + POSIX.
if ! $cc "${cflags[@]}" -I "$store_include" -pthread -c "$store_c" -o "$work/store.o" 2>"$work/store.log"; then
    cat "$work/store.log"
    echo "FAIL  (the store does not compile)"
    echo "0 passed, 1 failed"
    exit 1
fi

if [[ -n "${TESTS:-}" ]]; then
    names=()
    for name in $TESTS; do names+=("$here/test_$name.c"); done
else
    names=("$here"/test_*.c)
fi

for source in "${names[@]}"; do
    name=$(basename "$source" .c)
    name=${name#test_}
    binary=$work/$name
    if ! $cc "${cflags[@]}" -std=c11 -Wall -Wextra -I "$store_include" -I "$here" -pthread \
        "$source" "$work/store.o" -o "$binary" 2>"$work/$name.build.log"; then
        cat "$work/$name.build.log"
        echo "FAIL  $name (does not build)"
        failed=$((failed + 1))
        continue
    fi
    start=$(date +%s.%N)
    # -k: a program that ignores SIGTERM is killed 5 s later.
    timeout -k 5 "$timeout_seconds" "${emulator[@]}" "$binary" >"$work/$name.out" 2>&1
    status=$?
    elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    if [[ $status -eq 77 ]]; then
        echo "skip  $name"
        sed 's/^/      /' "$work/$name.out"
        skipped=$((skipped + 1))
    elif [[ $status -eq 0 ]]; then
        echo "ok    $name (${elapsed} s)"
        # Programs that measure something print it; show it.
        grep -v ': ok$' "$work/$name.out" | sed 's/^/      /'
        passed=$((passed + 1))
    else
        if [[ $status -eq 124 || $status -eq 137 ]]; then
            echo "FAIL  $name (hung: killed after $timeout_seconds s)"
        else
            echo "FAIL  $name (exit status $status, ${elapsed} s)"
        fi
        head -n 40 "$work/$name.out" | sed 's/^/      /'
        failed=$((failed + 1))
    fi
done

((skipped)) && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
