#!/usr/bin/env bash
# The slot store's lock protocol, checked exhaustively with spin: the model of
# the specified protocol holds, and each old bug yields a counterexample.
set -euo pipefail
bash Tests/Model/run.sh
