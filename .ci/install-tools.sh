#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the tools that CI steps and scripts need, with apt-get (Debian),
# only those that are missing; prints nothing when every one is present.
#
#   bash .ci/install-tools.sh TOOL...
#
# A TOOL is a command name (or, for libraries, the name below), mapped here to
# the Debian package that provides it. The Swift toolchain's own tools (swift,
# clang, ld.lld, docc, swift-format) come with the toolchain and are not
# installed here: steps find them next to `swift` (see toolchain_bin below).
set -euo pipefail

# package TOOL: the Debian package that provides TOOL.
package() {
    case $1 in
    musl-gcc) echo musl-tools ;;
    gcc-multilib) echo gcc-multilib ;; # cc -m32
    qemu-aarch64) echo qemu-user ;;
    aarch64-libc) echo libc6-dev-arm64-cross libgcc-12-dev-arm64-cross ;; # aarch64 cross headers and libraries
    ld.lld) echo lld ;;
    g++) echo g++ ;;
    clang) echo clang ;;
    clang-format) echo clang-format ;;
    spin) echo spin ;;
    wrk) echo wrk ;;
    curl) echo curl ;;
    valgrind) echo valgrind ;;
    objcopy | objdump) echo binutils ;;
    python3) echo python3 ;;
    *)
        echo "error: $0 does not know the tool '$1'" >&2
        exit 2
        ;;
    esac
}

# present TOOL: whether TOOL is usable as it is.
present() {
    case $1 in
    gcc-multilib | aarch64-libc)
        local p
        for p in $(package "$1"); do dpkg -s "$p" >/dev/null 2>&1 || return 1; done
        ;;
    # The toolchain's clang and ld.lld count: they live next to swift.
    clang | ld.lld) command -v "$1" >/dev/null 2>&1 || [[ -x $(toolchain_bin)/$1 ]] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

toolchain_bin() {
    if command -v swift >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v swift)")"; fi
}

missing=()
for tool in "$@"; do
    packages=$(package "$tool") # an unknown name stops here
    # shellcheck disable=SC2206 # a list of package names
    present "$tool" || missing+=($packages)
done
((${#missing[@]})) || exit 0

if [[ $(id -u) -ne 0 ]]; then
    echo "error: missing, and not root to install them: apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "installing with apt-get: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq "${missing[@]}" >/dev/null
