#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sources are formatted: Swift with the toolchain's swift-format and
# .swift-format, C and C++ with clang-format and .clang-format; every source
# file names its license in an SPDX line within its first three lines.
#
#   bash .ci/steps/05-format.sh          # check (CI)
#   bash .ci/steps/05-format.sh --fix    # format every file in place
set -euo pipefail
cd "$(dirname "$0")/../.."
bash .ci/install-tools.sh clang-format

# Every tracked source file of each language.
mapfile -t swift_files < <(git ls-files '*.swift')
mapfile -t c_files < <(git ls-files '*.c' '*.h' '*.cpp')

if [[ ${1:-} == --fix ]]; then
    swift format --in-place "${swift_files[@]}"
    clang-format -i "${c_files[@]}"
    exit 0
fi
swift format lint --strict "${swift_files[@]}"
unformatted=()
for file in "${c_files[@]}"; do
    clang-format "$file" | cmp -s - "$file" || unformatted+=("$file")
done
if ((${#unformatted[@]})); then
    printf 'error: not formatted as .clang-format says: %s\n' "${unformatted[@]}" >&2
    echo "run: bash .ci/steps/05-format.sh --fix (or clang-format -i FILE), and see the changes with git diff" >&2
    exit 1
fi
mapfile -t unlicensed < <(git ls-files '*.swift' '*.c' '*.h' '*.cpp' '*.sh' '*.py' '*.pml' '*.inc' '*.modulemap' .ci/run |
    while read -r file; do head -n 3 "$file" | grep -q 'SPDX-License-Identifier: Apache-2.0' || echo "$file"; done)
if ((${#unlicensed[@]})); then
    printf 'error: no SPDX-License-Identifier line in the first three lines: %s\n' "${unlicensed[@]}" >&2
    exit 1
fi
echo "format: ${#swift_files[@]} Swift and ${#c_files[@]} C/C++ files formatted"
