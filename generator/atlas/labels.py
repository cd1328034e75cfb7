"""Channel labels from a site's optional `labels.toml`.

One line per label, the key naming a channel as `LAYER:CHANNEL` (quoted, since TOML bare keys
cannot hold ':' or '.'), the value a string:

    "blocks.4.2:70" = "eyes, front view"
    "conv_head:12"  = "dog snouts"

`read_labels(path, layers)` returns `{(layer, channel): label}` in file order. `layers` maps each
layer name of the model to its channel count. Every mistake is one `FeatvisError` line naming
`file:line`: a TOML syntax error, a key that is not `LAYER:CHANNEL`, a value that is not a
non-empty string, a channel named twice (also when written differently, `:070` and `:70`), an
unknown layer (with the valid layers) and a channel out of range (with the valid range).
A missing file is no labels at all.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

from generator.core.errors import FeatvisError, choices_hint

Labels = dict[tuple[str, int], str]

LABELS_FILE = "labels.toml"
_KEY = re.compile(r"^(?P<layer>[^:\s]+):(?P<channel>[0-9]+)$")
# A top-level `key = value` line: the key bare, "double" or 'single' quoted.
_LINE_KEY = re.compile(
    r"""^\s*(?:"(?P<dq>(?:[^"\\]|\\.)*)"|'(?P<sq>[^']*)'|(?P<bare>[A-Za-z0-9_.:-]+))\s*="""
)
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")


def key_lines(text: str) -> dict[str, list[int]]:
    """Each top-level key as written (quotes removed) -> the lines (1-based) that assign it."""
    lines: dict[str, list[int]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        m = _LINE_KEY.match(line)
        if m:
            key = m.group("dq") if m.group("dq") is not None else m.group("sq") or m.group("bare")
            if m.group("dq") is not None and "\\" in key:
                try:
                    key = tomllib.loads(f'"{key}" = 0').popitem()[0]
                except tomllib.TOMLDecodeError:
                    pass  # reported as a syntax error by the parse that follows
            lines.setdefault(key, []).append(number)
    return lines


def parse_key(key: str) -> tuple[str, int] | None:
    m = _KEY.match(key.strip())
    return (m.group("layer"), int(m.group("channel"))) if m else None


def _syntax_error(path: Path, exc: tomllib.TOMLDecodeError) -> FeatvisError:
    message = str(exc)
    m = _TOML_POSITION.search(message)
    line = m.group(1) if m else "?"
    what = _TOML_POSITION.sub("", message).strip()
    return FeatvisError(
        f'{path}:{line}: TOML syntax error ({what}); write one label per line as '
        f'"LAYER:CHANNEL" = "label"'
    )


def _duplicates(path: Path, lines: Mapping[str, list[int]]) -> None:
    for key, numbers in lines.items():
        if len(numbers) > 1:
            raise FeatvisError(
                f"{path}:{numbers[1]}: duplicate label for '{key}' (first at line {numbers[0]})"
            )
    seen: dict[tuple[str, int], tuple[str, int]] = {}
    for key, numbers in sorted(lines.items(), key=lambda kv: kv[1][0]):
        parsed = parse_key(key)
        if parsed is None:
            continue
        if parsed in seen:
            first, line = seen[parsed]
            raise FeatvisError(
                f"{path}:{numbers[0]}: duplicate label for '{key}' ('{first}' at line {line} "
                f"names the same channel)"
            )
        seen[parsed] = (key, numbers[0])


def _check(
    path: Path, line: int | str, key: str, value: object, layers: Mapping[str, int]
) -> tuple[tuple[str, int], str]:
    where = f"{path}:{line}"
    parsed = parse_key(key)
    if parsed is None:
        raise FeatvisError(
            f"{where}: '{key}' is not a channel; write \"LAYER:CHANNEL\" = \"label\", "
            f'e.g. "{next(iter(layers), "LAYER")}:0" = "..."'
        )
    if not isinstance(value, str) or not value.strip():
        raise FeatvisError(f"{where}: the label of '{key}' must be a non-empty string")
    layer, channel = parsed
    if layer not in layers:
        raise FeatvisError(f"{where}: unknown layer '{layer}' ({choices_hint(layer, layers)})")
    if not 0 <= channel < layers[layer]:
        raise FeatvisError(
            f"{where}: channel {channel} out of range for layer '{layer}' "
            f"(valid: 0..{layers[layer] - 1})"
        )
    return parsed, value.strip()


def parse_labels(text: str, path: Path, layers: Mapping[str, int]) -> Labels:
    """The labels in `text` (the content of `path`), checked against `layers` (name -> channels)."""
    lines = key_lines(text)
    _duplicates(path, lines)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(path, exc) from None
    labels: Labels = {}
    for key, value in data.items():
        line: int | str = lines[key][0] if key in lines else "?"
        if isinstance(value, dict):
            raise FeatvisError(
                f"{path}:{line}: '{key}' is a table; quote the whole key: "
                f'"LAYER:CHANNEL" = "label"'
            )
        channel, label = _check(path, line, key, value, layers)
        labels[channel] = label
    return labels


def read_labels(path: Path, layers: Mapping[str, int]) -> Labels:
    """The labels of `path`; {} when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FeatvisError(f"{path}: cannot read the labels ({type(exc).__name__})") from None
    return parse_labels(text, path, layers)


def label_key(layer: str, channel: int) -> str:
    """The key a label file uses for a channel (and the search index's `layer:channel`)."""
    return f"{layer}:{channel}"
