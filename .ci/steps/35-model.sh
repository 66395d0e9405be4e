#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The slot store's protocol, checked exhaustively with spin: the model of
# the implemented protocol holds, and each seeded bug yields a counterexample.
set -euo pipefail
bash Tests/Model/run.sh
