#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The measured figures that the READMEs quote are the ones in
# Benchmarks/Results: the headline paragraph of README.md and the tables of
# Benchmarks/README.md, each regenerated from benchmarks.json,
# instructions.json, disassembly.txt and store-after-take.md and compared.
# `bash Benchmarks/compare.sh --save` rewrites them after a run; after an edit
# of the generator, `python3 Benchmarks/Scripts/results.py readmes`.
set -euo pipefail
python3 Benchmarks/Scripts/results.py readmes --check
