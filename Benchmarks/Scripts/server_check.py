# SPDX-License-Identifier: Apache-2.0
"""Checks one /items response of the RealWorld server.

    python3 Benchmarks/Scripts/server_check.py BODY HEADERS REFERENCE_BODY

The body is the catalog that `/items?user=Ada%20Lovelace&n=8` asks for; its ETag is the
FNV-1a hash of the body; and it is byte for byte the reference body (another variant's)
but for the generatedAt time. Exits 1 with a message otherwise.
"""

import json
import os
import re
import sys

body_path, headers_path, reference_path = sys.argv[1:4]
raw = open(body_path, "rb").read()
headers = {}
for line in open(headers_path, encoding="latin-1").read().splitlines()[1:]:
    if ":" in line:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()


def fail(message):
    sys.exit(f"error: {body_path}: {message}")


catalog = json.loads(raw)
if catalog["user"] != "Ada Lovelace" or catalog["count"] != 8 or len(catalog["items"]) != 8:
    fail(f"not the catalog asked for: {raw[:200]!r}")
if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", catalog["generatedAt"]):
    fail(f"generatedAt is not an ISO 8601 time: {catalog['generatedAt']}")
if catalog["items"][3]["updated"] != "2026-01-01T03:00:00.000Z":
    fail(f"item 3's update time is wrong: {catalog['items'][3]}")
if headers.get("content-type") != "application/json" or int(headers.get("content-length", -1)) != len(raw):
    fail(f"wrong headers: {headers}")
hash = 0xCBF29CE484222325
for byte in raw:
    hash = ((hash ^ byte) * 0x100000001B3) % 2**64
if headers.get("etag") != f'"{hash:016x}"':
    fail(f"ETag {headers.get('etag')} is not the body's hash {hash:016x}")
if os.path.exists(reference_path) and os.path.abspath(reference_path) != os.path.abspath(body_path):
    strip = lambda data: re.sub(rb'"generatedAt":"[^"]*"', b"", data)
    if strip(raw) != strip(open(reference_path, "rb").read()):
        fail(f"differs from {reference_path} beyond generatedAt")
print(f"ok: {os.path.basename(body_path)} ({len(raw)} bytes, ETag {headers['etag']})")
