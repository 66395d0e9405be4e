#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks that every link to a section of a DocC page lands on a section.

  python3 Scripts/check-doc-links.py PATH.doccarchive

DocC resolves `<doc:Page#Heading>` (and a symbol link with `#Heading`) when
the page exists, but not whether the heading is on the page as rendered: a
section placed after `## Topics` in an extension file is dropped without a
warning, and its links then land at the top of the page. This reads the
archive's render JSON (`data/documentation/...`), collects the anchors each
page really has (its headings and its topic and "See Also" groups), and
reports every link whose anchor is not among its target's. It also reports
a heading with a code span: DocC shows its backticks literally, in the
heading and in every link to it.
"""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import doc_pages  # noqa: E402


def anchors(node, found, literal=None):
    """The anchors of the headings in a render-JSON tree; headings whose text
    has a backtick go to `literal` too."""
    if isinstance(node, dict):
        if node.get("type") == "heading" and "anchor" in node:
            found.add(node["anchor"])
            if literal is not None and "`" in node.get("text", ""):
                literal.append(node["text"])
        for value in node.values():
            anchors(value, found, literal)
    elif isinstance(node, list):
        for value in node:
            anchors(value, found, literal)
    return found


def page_anchors(page):
    found = set()
    for key in ("primaryContentSections", "sections"):
        anchors(page.get(key, []), found)
    for key in ("topicSections", "seeAlsoSections"):
        found |= {group["anchor"] for group in page.get(key, []) if "anchor" in group}
    return found


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    archive = sys.argv[1]
    data = os.path.join(archive, "data")
    pages = {}
    for path in glob.glob(os.path.join(data, "documentation", "**", "*.json"), recursive=True):
        url = "/" + os.path.relpath(path, data)[: -len(".json")]
        with open(path, encoding="utf-8") as f:
            pages[url.lower()] = json.load(f)
    cache, links, errors = {}, 0, []
    for url, page in sorted(pages.items()):
        literal = []
        anchors(page.get("primaryContentSections", []), set(), literal)
        for text in literal:
            errors.append(f'{url}: error: heading "{text}" shows its backticks; write it without code spans')
        for reference in page.get("references", {}).values():
            target = reference.get("url", "")
            if reference.get("type") != "topic" or "#" not in target:
                continue
            links += 1
            path, anchor = target.split("#", 1)
            if path.lower() not in pages:
                errors.append(f"{url}: error: link to {target}: no such page in the archive")
                continue
            if path not in cache:
                cache[path] = page_anchors(pages[path.lower()])
            if anchor not in cache[path]:
                errors.append(
                    f"{url}: error: link to {target}: the rendered page has no section "
                    f'"{anchor}" (a heading after "## Topics" is dropped by DocC)'
                )
    doc_pages.finish(errors, f"section links: {links} in {len(pages)} pages")


if __name__ == "__main__":
    main()
