#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The store as a shared library (-shared -fPIC), loaded the ways plugins load it:
# - dlopen_main.c dlopens COPIES copies under different names (default: 20) and
#   uses a slot in each from two threads;
# - dlopen_cross.c loads two copies whose exit-time destructors destroy a slot
#   of the other copy;
# - dlclose_main.c closes the library under a thread that still has to exit, and
#   loads, uses and closes it 1,100 times;
# - first_use_main.c, linked with the library, makes its first ctl_slot_create
#   race with a dlopened plugin's constructor that creates a slot
#   (first_use_plugin.c);
# - loader_main.c: two copies loaded RTLD_LOCAL and RTLD_GLOBAL in both
#   orders, dlclose of a plugin that needs the library (needs_store_plugin.c)
#   and makes the store's first calls in its destructor, and a copy loaded
#   while the process is out of pthread keys;
# - early_ctor_main.c: another library's constructor makes the first calls,
#   before the store's own constructor ran (early_ctor_lib.c).
# Prints how many copies loaded and "N passed, M failed". CC, CFLAGS, STORE_C and
# STORE_INCLUDE as in run.sh.
set -uo pipefail

source "$(dirname "$0")/settings.sh"
copies=${COPIES:-20}

program() {  # program NAME [LINK FLAGS...]: builds $here/NAME.c into $work/NAME
    local name=$1
    shift
    $cc "${cflags[@]}" -std=c11 -Wall -Wextra -I "$store_include" -I "$here" -pthread "$here/$name.c" \
        -o "$work/$name" "$@" -ldl
}

if ! $cc "${cflags[@]}" -shared -fPIC -I "$store_include" -pthread "$store_c" "$here/dlopen_lib.c" \
    -o "$work/libctlstore.so" ||
    ! program dlopen_main || ! program dlopen_cross || ! program dlclose_main ||
    ! $cc "${cflags[@]}" -shared -fPIC -I "$store_include" -pthread "$here/first_use_plugin.c" \
        -o "$work/first_use_plugin.so" -L "$work" -lctlstore ||
    ! program first_use_main -rdynamic -L "$work" -lctlstore -Wl,-rpath,"$work" ||
    ! $cc "${cflags[@]}" -shared -fPIC -I "$store_include" -pthread "$here/needs_store_plugin.c" \
        -o "$work/needs_store_plugin.so" -L "$work" -lctlstore -Wl,-rpath,"$work" ||
    ! program loader_main ||
    ! $cc "${cflags[@]}" -shared -fPIC -I "$store_include" -I "$here" -pthread "$here/early_ctor_lib.c" \
        -o "$work/libearly.so" ||
    ! program early_ctor_main -L "$work" -lctlstore -learly -Wl,-rpath,"$work"; then
    echo "FAIL  dlopen (does not build)"
    echo "0 passed, 1 failed"
    exit 1
fi
for ((i = 0; i < copies; i++)); do cp "$work/libctlstore.so" "$work/libctlstore_$i.so"; done

passed=0
failed=0
check() {  # check LABEL COMMAND...: runs COMMAND under the timeout, prints its output and ok or FAIL
    local label=$1
    shift
    timeout -k 5 "${TIMEOUT:-60}" "$@" >"$work/out" 2>&1
    local status=$?
    sed 's/^/      /' "$work/out"
    if [[ $status -eq 0 ]]; then
        echo "ok    $label"
        passed=$((passed + 1))
    else
        echo "FAIL  $label (exit status $status)"
        failed=$((failed + 1))
    fi
}
check "dlopen ($copies copies)" "$work/dlopen_main" "$work" "$copies"
check "two copies destroying each other's slots at exit" \
    "$work/dlopen_cross" "$work/libctlstore_0.so" "$work/libctlstore_1.so"
check "dlclose" "$work/dlclose_main" "$work/libctlstore.so"
check "first use inside dlopen" "$work/first_use_main" "$work/first_use_plugin.so"
check "first calls from another library's constructor" "$work/early_ctor_main"
for case in global-later global-first dlclose-needed keys-exhausted; do
    check "loader: $case" "$work/loader_main" "$case" "$work/libctlstore_0.so" "$work/libctlstore_1.so" \
        "$work/needs_store_plugin.so"
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
