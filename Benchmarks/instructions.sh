#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Instructions per operation of the hot paths (callgrind): the `instructions`
# part of compare.sh, under the name CI step 40 and the docs use.
#
#   bash Benchmarks/instructions.sh           # writes Results/instructions.{json,txt} and disassembly.txt
#   bash Benchmarks/instructions.sh --check   # holds them to the checked-in Results/instructions.json
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [[ "${1:-}" == --check ]]; then exec bash "$here/compare.sh" --only instructions --check; fi
exec bash "$here/compare.sh" --only instructions --save
