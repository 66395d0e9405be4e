#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The DocC documentation builds with warnings treated as errors, and every
# public symbol has a doc comment (see Scripts/build-docs.sh); every Markdown
# table of the docs renders as one table, in the DocC pages as in the source
# (see Scripts/check-tables.py); and every link to a section of a page
# (`<doc:Page#Heading>`) names a heading the rendered page has, which DocC
# does not check (see Scripts/check-doc-links.py).
set -euo pipefail
archive=.build/docs/ThreadLocals.doccarchive
bash Scripts/build-docs.sh "$archive"
python3 Scripts/check-tables.py --archive "$archive"
python3 Scripts/check-doc-links.py "$archive"
