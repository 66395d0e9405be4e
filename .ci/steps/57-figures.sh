#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The measured figures that the READMEs quote are the ones in
# Benchmarks/Results: the headline paragraph of README.md, the tables of
# Benchmarks/README.md and Benchmarks/Results/summary.md, each regenerated from
# benchmarks.json, instructions.json and disassembly.txt and compared. After a
# new run, `bash Benchmarks/update-results.sh` rewrites them all; after an edit
# of the generator, `python3 Benchmarks/Scripts/results.py readmes`.
set -euo pipefail
python3 Benchmarks/Scripts/results.py readmes --check
