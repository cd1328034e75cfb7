"""Where in site.toml: `FILE:LINE` of a key, of a key inside the [recipe] table, of one entry of
a `models` list written over several lines, and tomllib's own message with its line, so every error
about the file names the line it is about."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def line_of(toml: str, key: str) -> int | None:
    """The line number of `key = ...` at the start of a line, else of the first `[[key]]` header
    (a list of tables written as TOML's array of tables), or None."""
    lines = toml.splitlines()
    for number, line in enumerate(lines, start=1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return next(iter(_table_headers(lines, key)), None)


def _table_headers(lines: list[str], key: str) -> list[int]:
    """The line numbers of the `[[key]]` headers (a list of tables written as tables)."""
    header = re.compile(rf"\s*\[\[\s*{re.escape(key)}\s*\]\]")
    return [n for n, line in enumerate(lines, 1) if header.match(line)]


def key_where(source: Path | None, toml: str, key: str | None) -> str:
    """`FILE:LINE` of `key` in `toml` (the file alone where it is not; "config" without a file)."""
    if source is None:
        return "config"
    line = line_of(toml, key) if key else None
    return f"{source}:{line}" if line else str(source)


def recipe_where(path: Path, toml: str, key: str) -> str:
    """`site.toml:LINE` of `key` inside the [recipe] table, else of `recipe = {...}`."""
    inside = False
    for number, line in enumerate(toml.splitlines(), start=1):
        if re.match(r"\s*\[", line):  # a table header: are we in [recipe] from here?
            inside = re.match(r"\s*\[\s*recipe\s*\]", line) is not None
        elif inside and re.match(rf"\s*{re.escape(key)}\s*=", line):
            return f"{path}:{number}"
    return key_where(path, toml, "recipe")


def entry_where(path: Path, toml: str, models: str, model: Any, index: int = 0) -> str:
    """`site.toml:LINE` of the `models` entry naming `model`, the `index`-th: its `[[models]]`
    table's header, or its line in a list written over several lines; else `models` (the line
    of `models =`)."""
    lines = toml.splitlines()
    tables = _table_headers(lines, "models")
    if index < len(tables):
        return f"{path}:{tables[index]}"
    start = models.rpartition(":")[2]
    if not start.isdigit():
        return models
    quoted = re.compile(rf"""["']{re.escape(str(model))}["']""")
    rest = lines[int(start) - 1 :]
    found = next((n for n, line in enumerate(rest, int(start)) if quoted.search(line)), 0)
    return f"{path}:{found}" if found else models


def entry_key_where(path: Path, toml: str, index: int, key: str, entry: str) -> str:
    """`site.toml:LINE` of `key` inside the `index`-th `[[models]]` table, else `entry` (the
    entry's own line: an inline table stands on one)."""
    lines = toml.splitlines()
    tables = _table_headers(lines, "models")
    if index >= len(tables):
        return entry
    for number, line in enumerate(lines[tables[index] :], tables[index] + 1):
        if re.match(r"\s*\[", line):  # the next table
            break
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return f"{path}:{number}"
    return entry


def toml_error(path: Path, toml: str, message: str) -> str:
    """tomllib's message as `FILE:LINE: invalid TOML (...)`: its position ("at line 3, column 5",
    "at end of document") becomes the line."""
    at = re.search(r" \(at line (\d+), column \d+\)$| \(at end of document\)$", message)
    if at is None:
        return f"{path}: invalid TOML ({message})"
    line = int(at.group(1)) if at.group(1) else max(1, len(toml.splitlines()))
    return f"{path}:{line}: invalid TOML ({message[: at.start()]})"
