"""Reading the end of a file without reading the whole file."""

from __future__ import annotations

import os
from pathlib import Path

_BLOCK = 64 * 1024


def tail_bytes(path: Path | str, max_bytes: int) -> bytes:
    """The last ``max_bytes`` bytes of ``path`` (b"" if it does not exist)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - max_bytes))
            return fh.read()
    except FileNotFoundError:
        return b""


def tail_lines(path: Path | str, count: int) -> list[bytes]:
    """The last ``count`` lines of ``path``, without their newlines.

    Reads backwards in blocks from the end, so the cost depends on the size
    of the lines asked for, not on the size of the file.
    """
    if count <= 0:
        return []
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return []
    with fh:
        end = fh.seek(0, os.SEEK_END)
        pos = end
        data = b""
        while pos > 0 and data.count(b"\n") <= count:
            step = min(_BLOCK, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if pos > 0:
        lines = lines[1:]  # the first one may be cut
    return lines[-count:]
