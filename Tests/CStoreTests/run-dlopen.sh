#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the store into a shared library (-shared -fPIC), makes COPIES copies
# under different names (default: 20), and runs dlopen_main.c, which dlopens all
# of them with default tunables and uses a slot in each from two threads; then
# runs dlclose_main.c, which closes the library under a thread that still has
# to exit and loads, uses and closes it 1,100 times; then runs first_use_main.c,
# linked with the library, whose first ctl_slot_create races with a dlopened
# plugin's constructor that creates a slot (first_use_plugin.c).
# Prints how many copies loaded and "N passed, M failed". CC, CFLAGS, STORE_C and
# STORE_INCLUDE as in run.sh.
set -uo pipefail

source "$(dirname "$0")/settings.sh"
copies=${COPIES:-20}

if ! $cc "${cflags[@]}" -shared -fPIC -I "$store_include" -pthread "$store_c" "$here/dlopen_lib.c" \
    -o "$work/libctlstore.so" ||
    ! $cc "${cflags[@]}" -std=c11 -Wall -Wextra -I "$store_include" -I "$here" -pthread "$here/dlopen_main.c" \
        -o "$work/dlopen_main" -ldl ||
    ! $cc "${cflags[@]}" -std=c11 -Wall -Wextra -I "$store_include" -I "$here" -pthread "$here/dlclose_main.c" \
        -o "$work/dlclose_main" -ldl ||
    ! $cc "${cflags[@]}" -shared -fPIC -I "$store_include" -pthread "$here/first_use_plugin.c" \
        -o "$work/first_use_plugin.so" -L "$work" -lctlstore ||
    ! $cc "${cflags[@]}" -std=c11 -Wall -Wextra -I "$store_include" -I "$here" -pthread -rdynamic \
        "$here/first_use_main.c" -o "$work/first_use_main" -L "$work" -lctlstore -Wl,-rpath,"$work" -ldl; then
    echo "FAIL  dlopen (does not build)"
    echo "0 passed, 1 failed"
    exit 1
fi
for ((i = 0; i < copies; i++)); do cp "$work/libctlstore.so" "$work/libctlstore_$i.so"; done
passed=0
failed=0
if timeout -k 5 "${TIMEOUT:-60}" "$work/dlopen_main" "$work" "$copies" >"$work/out" 2>&1; then
    sed 's/^/      /' "$work/out"
    echo "ok    dlopen ($copies copies)"
    passed=$((passed + 1))
else
    sed 's/^/      /' "$work/out"
    echo "FAIL  dlopen ($copies copies)"
    failed=$((failed + 1))
fi
if timeout -k 5 "${TIMEOUT:-60}" "$work/dlclose_main" "$work/libctlstore.so" >"$work/out" 2>&1; then
    sed 's/^/      /' "$work/out"
    echo "ok    dlclose"
    passed=$((passed + 1))
else
    sed 's/^/      /' "$work/out"
    echo "FAIL  dlclose"
    failed=$((failed + 1))
fi
if timeout -k 5 "${TIMEOUT:-60}" "$work/first_use_main" "$work/first_use_plugin.so" >"$work/out" 2>&1; then
    sed 's/^/      /' "$work/out"
    echo "ok    first use inside dlopen"
    passed=$((passed + 1))
else
    sed 's/^/      /' "$work/out"
    echo "FAIL  first use inside dlopen"
    failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
