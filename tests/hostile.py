"""Hostile inputs shared by tests/test_reliability.py and benchmarks/bench_reliability.py: tiny
PNGs of extreme size, PNG headers that claim more pixels than they hold, a YAML alias bomb.
Standard library only, so the benchmark imports it without the test suite's dependencies."""

from __future__ import annotations

import struct
import zlib

ALIAS_BOMB = """---
title: bomb
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
---
x
"""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int) -> bytes:
    """A valid, tiny, well-compressed RGB PNG of any size (all black)."""
    raw = b"".join(b"\0" + b"\0" * (3 * width) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b""))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose (valid) header claims width x height pixels, with one row of data."""
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    small = png(1, 1)
    return small[:8] + ihdr + small[33:]
