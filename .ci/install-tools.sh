#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the tools that CI steps and scripts need, with apt-get (Debian),
# only those that are missing; prints nothing when every one is present.
#
#   bash .ci/install-tools.sh TOOL...
#   bash .ci/install-tools.sh --python-bin   # prints the Python tools' bin folder
#
# A TOOL is a command name (or, for libraries, the name below), mapped here to
# the Debian package that provides it. The Swift toolchain's own tools (swift,
# clang, ld.lld, docc, swift-format) come with the toolchain and are not
# installed here: steps find them next to `swift` (see toolchain_bin below).
#
# Two tools come from the Python package index, at pinned versions, and need
# no root: zig (the `ziglang` package, run as `python3 -m ziglang`) and
# check-jsonschema. They go into a virtual environment of their own,
# $CTL_CI_TOOLS (default ~/.cache/swift-thread-local/ci-tools), whose bin
# folder a step puts first on PATH before it calls this script:
#   PATH="$(bash .ci/install-tools.sh --python-bin):$PATH"
# A tool already on PATH (python3 -m ziglang, check-jsonschema) counts as present.
set -euo pipefail

python_tools=${CTL_CI_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/swift-thread-local/ci-tools}
if [[ ${1:-} == --python-bin ]]; then
    echo "$python_tools/bin"
    exit 0
fi

# python_package TOOL: the pinned Python package that provides TOOL, or nothing.
python_package() {
    case $1 in
    zig) echo ziglang==0.17.1 ;;
    check-jsonschema) echo check-jsonschema==0.39.0 ;;
    esac
}

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
    python3-venv) echo python3-venv ;; # python3 -m venv, for the Python tools
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
    zig) PATH="$python_tools/bin:$PATH" python3 -m ziglang version >/dev/null 2>&1 ;;
    check-jsonschema) PATH="$python_tools/bin:$PATH" command -v check-jsonschema >/dev/null 2>&1 ;;
    python3-venv) python3 -c 'import ensurepip, venv' >/dev/null 2>&1 ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

toolchain_bin() {
    if command -v swift >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v swift)")"; fi
}

missing=()
missing_python=()
for tool in "$@"; do
    if [[ -n $(python_package "$tool") ]]; then
        present "$tool" || missing_python+=("$(python_package "$tool")")
        continue
    fi
    packages=$(package "$tool") # an unknown name stops here
    # shellcheck disable=SC2206 # a list of package names
    present "$tool" || missing+=($packages)
done
# The Python tools' environment needs python3 and its venv module (Debian's python3-venv).
if ((${#missing_python[@]})) && [[ ! -x $python_tools/bin/python3 ]]; then
    present python3 || missing+=(python3)
    present python3-venv || missing+=(python3-venv)
fi

install_python_tools() {
    ((${#missing_python[@]})) || return 0
    echo "installing with pip into $python_tools: ${missing_python[*]}"
    [[ -x $python_tools/bin/python3 ]] || python3 -m venv "$python_tools"
    "$python_tools/bin/python3" -m pip install --quiet --disable-pip-version-check "${missing_python[@]}"
}

if ((${#missing[@]} == 0)); then
    install_python_tools
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "error: missing, and not root to install them: apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "installing with apt-get: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq "${missing[@]}" >/dev/null
install_python_tools
