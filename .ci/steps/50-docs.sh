#!/usr/bin/env bash
# The DocC documentation builds with warnings treated as errors, and every
# public symbol has a doc comment (see Scripts/build-docs.sh).
set -euo pipefail
bash Scripts/build-docs.sh
