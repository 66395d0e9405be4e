# SPDX-License-Identifier: Apache-2.0
"""The documentation pages that the doc checks read (a module the check scripts import)."""
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCC = os.path.join(ROOT, "Sources/ThreadLocals/ThreadLocals.docc")


def pages():
    """README.md, CONTRIBUTING.md, Benchmarks/README.md and every DocC article."""
    top = [os.path.join(ROOT, p) for p in ["README.md", "CONTRIBUTING.md", "Benchmarks/README.md"]]
    return [p for p in top if os.path.exists(p)] + sorted(glob.glob(os.path.join(DOCC, "*.md")))
