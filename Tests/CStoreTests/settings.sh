# SPDX-License-Identifier: Apache-2.0
# Sourced by run.sh, run-cxx.sh and run-dlopen.sh: the settings they share.
# CC (default cc) and CFLAGS pick the compiler; STORE_C and STORE_INCLUDE point
# at another store's C file and header; `work` is a scratch folder removed on
# exit.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cc=${CC:-cc}
read -r -a cflags <<<"${CFLAGS:-}"
store_c=${STORE_C:-$root/Sources/CThreadLocals/CThreadLocals.c}
store_include=${STORE_INCLUDE:-$root/include}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
