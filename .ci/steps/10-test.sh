#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's test command.
set -euo pipefail
swift test
