#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The C slot store on its own, without Swift: the C test programs of
# Tests/CStoreTests (run.sh) on every platform configuration we can reach here,
# the header from C++17 (g++ and clang++), and the store as a dlopened plugin
# (run-dlopen.sh: many copies, dlclose, first use inside dlopen).
#
# Configurations: x86_64 glibc (cc), also with full fences instead of
# membarrier (CTL_FULL_FENCES); clang ThreadSanitizer; clang
# AddressSanitizer (leak detection on); musl (musl-gcc -static); i386 (-m32);
# aarch64 glibc, cross-compiled with clang and run under qemu-user. The
# sanitizer and emulator runs use the programs' smaller sizes (CTL_TEST_SMALL=1).
# Generation exhaustion runs on its own, with the store's largest generation
# lowered to 1000 (2^30 create/destroy cycles would take minutes).
#
# Tool notes:
# - gcc-aarch64-linux-gnu conflicts with gcc-multilib, so aarch64 is
#   cross-compiled with clang against libc6-dev-arm64-cross and linked by lld.
# - The Swift toolchain's clang has a ThreadSanitizer runtime with libdispatch
#   interceptors: a plain C program links it with the toolchain's libdispatch
#   and BlocksRuntime.
# - ThreadSanitizer stops a forked child of a multi-threaded process that
#   starts a thread unless die_after_fork=0; qemu-user 7.2 aborts in that case
#   itself, so under qemu the fork test leaves that thread out.
set -euo pipefail
cd "$(dirname "$0")/../.."

# --- Tools ---------------------------------------------------------------------
bash .ci/install-tools.sh musl-gcc gcc-multilib qemu-aarch64 aarch64-libc ld.lld g++ clang
# The Swift toolchain's clang (next to swift), or else the one on PATH.
clang=$(dirname "$(readlink -f "$(command -v swift)")")/clang
[[ -x $clang ]] || clang=$(readlink -f "$(command -v clang)")
clangxx="$(dirname "$clang")/clang++"
[[ -x "$clangxx" ]] || clangxx=$(command -v clang++)
# The cross compiler's support files: the one GCC version that libgcc-*-dev-arm64-cross installed.
aarch64_gcc=$(find /usr/lib/gcc-cross/aarch64-linux-gnu -mindepth 1 -maxdepth 1 -type d | sort -V | tail -n 1)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ThreadSanitizer link flags: none for a stock clang; the Swift toolchain's
# runtime needs libdispatch and BlocksRuntime.
printf 'int main(void) { return 0; }\n' >"$work/empty.c"
tsan_flags="-fsanitize=thread -g -O1"
if ! $clang $tsan_flags "$work/empty.c" -o "$work/empty" 2>/dev/null; then
    swift_libs="$(dirname "$clang")/../lib/swift/linux"
    tsan_flags="$tsan_flags -L$swift_libs -ldispatch -lBlocksRuntime -Wl,-rpath,$swift_libs"
fi

aarch64_cc="$clang --target=aarch64-linux-gnu -fuse-ld=lld --gcc-toolchain=/usr -isystem /usr/aarch64-linux-gnu/include"
aarch64_cc+=" -L/usr/aarch64-linux-gnu/lib -B$aarch64_gcc -L$aarch64_gcc"

# --- Runs ----------------------------------------------------------------------
failures=()
run() {
    local label=$1
    shift
    echo "--- $label"
    if ! env "$@" bash Tests/CStoreTests/run.sh; then failures+=("$label"); fi
}

run "x86_64 glibc" CC=cc
run "x86_64 glibc, full fences on both sides of the store/destroy handshake (no membarrier)" CC=cc \
    CFLAGS=-DCTL_FULL_FENCES
run "ThreadSanitizer" CC="$clang" CFLAGS="$tsan_flags" CTL_TEST_SMALL=1 \
    TSAN_OPTIONS="halt_on_error=1 die_after_fork=0 ${TSAN_OPTIONS:-}"
run "AddressSanitizer" CC="$clang" CFLAGS="-fsanitize=address -fno-omit-frame-pointer -g -O1" CTL_TEST_SMALL=1 \
    ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}"
run "musl (static)" CC=musl-gcc CFLAGS=-static
run "i386" CC=cc CFLAGS=-m32
run "generation exhaustion (maximum lowered to 1000)" CC=cc CFLAGS=-DCTL__MAX_GENERATION=1000 CTL_TEST_EXHAUST=1 \
    TESTS=generation_exhaustion
run "aarch64 (qemu-user)" CC="$aarch64_cc" EMULATOR="qemu-aarch64 -L /usr/aarch64-linux-gnu" CTL_TEST_SMALL=1 \
    CTL_TEST_NO_THREADS_AFTER_FORK=1 TIMEOUT=120

echo "--- C++17 consumer"
CXX_COMPILERS="g++ $clangxx" bash Tests/CStoreTests/run-cxx.sh || failures+=("C++17 consumer")
echo "--- dlopen: 20 copies, two copies at thread exit, dlclose, first use (x86_64 glibc)"
CC=cc bash Tests/CStoreTests/run-dlopen.sh || failures+=("dlopen")

if ((${#failures[@]})); then
    echo "C store: failed: ${failures[*]}"
    exit 1
fi
echo "C store: every configuration passed"
