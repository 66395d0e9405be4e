#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Instructions per operation of the hot paths (callgrind), held to the
# checked-in baseline Benchmarks/Results/instructions.json: fails if a case of
# rows 1-3 (raw __thread, the C slot API, ThreadLocal) got more than
# max(1 instruction, 10%) worse. Instruction counts, not wall time, so the
# check is fast and does not depend on what else the machine is doing.
set -euo pipefail
bash .ci/install-tools.sh valgrind objcopy objdump
bash Benchmarks/instructions.sh --check
