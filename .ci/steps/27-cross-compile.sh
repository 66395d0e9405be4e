#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The C store built for the platforms CI cannot run: macOS on aarch64 and
# x86_64 (Mach-O, the `__APPLE__` branches) and FreeBSD on x86_64, with Zig's
# clang and the libc headers and stubs it bundles (`zig cc`, from the
# `ziglang` package on the Python package index; no SDK). Warnings are errors.
# Nothing is run. For each target:
# - the store, and every program of Tests/CStoreTests linked with it: the test
#   programs as run.sh builds them, and the dlopen programs and libraries as
#   run-dlopen.sh does (the plugin that uses the main program's symbols is
#   linked with `-undefined dynamic_lookup` on macOS, where a library's
#   undefined symbols must otherwise resolve at link time);
# - the header alone, from C11 and from C++11, C++17 and C++20;
# - the C++17 consumer (`zig c++`), linked with the store.
# Then .github/workflows/ci.yml is checked against GitHub's workflow schema
# (the copy that check-jsonschema ships: no network).
set -euo pipefail
cd "$(dirname "$0")/../.."

PATH="$(bash .ci/install-tools.sh --python-bin):$PATH"
bash .ci/install-tools.sh zig check-jsonschema

targets=(aarch64-macos x86_64-macos x86_64-freebsd)
warnings=(-Wall -Wextra -Werror)
tests=Tests/CStoreTests
store=Sources/CThreadLocals/CThreadLocals.c

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '#include "CThreadLocals.h"\n' >"$work/header.c"
cp "$work/header.c" "$work/header.cpp"

failures=()
# build LABEL COMMAND...: runs a compile or link, prints its errors and records a failure.
build() {
    local label=$1
    shift
    if ! "$@" >"$work/log" 2>&1; then
        sed 's/^/      /' "$work/log"
        echo "FAIL  $label"
        failures+=("$label")
        return 1
    fi
}

for target in "${targets[@]}"; do
    echo "--- $target"
    out=$work/$target
    mkdir -p "$out"
    cc=(python3 -m ziglang cc -target "$target" -O2 "${warnings[@]}" -I include -pthread)
    cxx=(python3 -m ziglang c++ -target "$target" -O2 "${warnings[@]}" -I include -pthread)
    built=0

    build "$target: the header alone (c11)" "${cc[@]}" -std=c11 -c "$work/header.c" -o "$out/header.o" &&
        built=$((built + 1))
    for std in c++11 c++17 c++20; do
        build "$target: the header alone ($std)" "${cxx[@]}" -std=$std -c "$work/header.cpp" -o "$out/header.o" &&
            built=$((built + 1))
    done

    # The store as run.sh builds it for the tests, and as a consumer does.
    build "$target: the store" "${cc[@]}" -DCTL_TESTING -c "$store" -o "$out/store-testing.o" || continue
    build "$target: the store (without CTL_TESTING)" "${cc[@]}" -c "$store" -o "$out/store.o" || continue
    built=$((built + 2))

    for source in "$tests"/test_*.c; do
        name=$(basename "$source" .c)
        build "$target: $name" "${cc[@]}" -std=c11 -DCTL_TESTING -I "$tests" "$source" "$out/store-testing.o" \
            -o "$out/$name" && built=$((built + 1))
    done

    build "$target: cxx_consumer (c++17)" "${cxx[@]}" -std=c++17 "$tests/cxx_consumer.cpp" "$out/store.o" \
        -o "$out/cxx_consumer" && built=$((built + 1))

    # The dlopen programs (run-dlopen.sh).
    plugin_flags=()
    [[ $target == *-macos ]] && plugin_flags=(-undefined dynamic_lookup)
    if build "$target: libctlstore (the store as a shared library)" "${cc[@]}" -shared -fPIC "$store" \
        "$tests/dlopen_lib.c" -o "$out/libctlstore.so"; then
        built=$((built + 1))
        for name in dlopen_main dlopen_cross dlclose_main; do
            build "$target: $name" "${cc[@]}" -std=c11 -I "$tests" "$tests/$name.c" -o "$out/$name" -ldl &&
                built=$((built + 1))
        done
        build "$target: first_use_plugin" "${cc[@]}" -shared -fPIC "$tests/first_use_plugin.c" \
            -o "$out/first_use_plugin.so" -L "$out" -lctlstore "${plugin_flags[@]}" && built=$((built + 1))
        build "$target: first_use_main" "${cc[@]}" -std=c11 -I "$tests" "$tests/first_use_main.c" \
            -o "$out/first_use_main" -rdynamic -L "$out" -lctlstore && built=$((built + 1))
    fi
    echo "ok    $target: $built objects and programs built"
done

echo "--- .github/workflows/ci.yml"
build "the workflow against GitHub's workflow schema" \
    check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml && echo "ok    the workflow"

if ((${#failures[@]})); then
    echo "cross-compile: ${#failures[@]} failed"
    exit 1
fi
echo "cross-compile: every target built, warnings as errors; the workflow is valid"
