#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the store into a shared library as run-dlopen.sh does, copies it to two
# names, and runs dlopen_cross.c: exit-time destructors of each copy destroy a
# slot of the other. Prints "N passed, M failed". CC, CFLAGS, STORE_C and
# STORE_INCLUDE as in run.sh.
set -uo pipefail

source "$(dirname "$0")/settings.sh"

if ! $cc "${cflags[@]}" -shared -fPIC -I "$store_include" -pthread "$store_c" "$here/dlopen_lib.c" \
    -o "$work/libctlstore.so" ||
    ! $cc "${cflags[@]}" -std=c11 -Wall -Wextra -I "$store_include" -I "$here" -pthread "$here/dlopen_cross.c" \
        -o "$work/dlopen_cross" -ldl; then
    echo "FAIL  dlopen_cross (does not build)"
    echo "0 passed, 1 failed"
    exit 1
fi
cp "$work/libctlstore.so" "$work/libctlstore_a.so"
cp "$work/libctlstore.so" "$work/libctlstore_b.so"
timeout -k 5 "${TIMEOUT:-60}" "$work/dlopen_cross" "$work/libctlstore_a.so" "$work/libctlstore_b.so" >"$work/out" 2>&1
status=$?
sed 's/^/      /' "$work/out"
if [[ $status -eq 0 ]]; then
    echo "ok    dlopen_cross"
    echo "1 passed, 0 failed"
else
    echo "FAIL  dlopen_cross (exit status $status)"
    echo "0 passed, 1 failed"
    exit 1
fi
