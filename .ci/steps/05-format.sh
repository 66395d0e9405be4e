#!/usr/bin/env bash
# Swift sources are formatted with the toolchain's swift-format and .swift-format.
set -euo pipefail
files=$(git ls-files '*.swift')
swift format lint --strict $files
