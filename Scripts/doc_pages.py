# SPDX-License-Identifier: Apache-2.0
"""The documentation pages that the doc checks read (a module the check scripts import)."""
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCC = os.path.join(ROOT, "Sources/ThreadLocals/ThreadLocals.docc")


def finish(errors, summary):
    """Prints each error to stderr and the one-line summary (with the number of
    problems), then exits 1 if there was an error: how every doc check ends."""
    import sys

    for e in errors:
        print(e, file=sys.stderr)
    print(f"{summary}, {len(errors)} problems")
    sys.exit(1 if errors else 0)


def pages():
    """README.md, CONTRIBUTING.md, Benchmarks/README.md and every DocC article."""
    top = [os.path.join(ROOT, p) for p in ["README.md", "CONTRIBUTING.md", "Benchmarks/README.md"]]
    return [p for p in top if os.path.exists(p)] + sorted(glob.glob(os.path.join(DOCC, "*.md")))
