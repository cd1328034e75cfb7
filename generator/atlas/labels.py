"""Channel labels from a site's optional `labels.toml`.

One line per label, the key naming a channel as `LAYER:CHANNEL` (quoted, since TOML bare keys
cannot hold ':' or '.'), the value a string:

    "blocks.4.2:70" = "eyes, front view"
    "conv_head:12"  = "dog snouts"

On a site of several models a key names a channel of a model other than the first with the
model's id and a slash before it, `MODEL/LAYER:CHANNEL` (layer names never hold a slash):

    "efficientnet_lite1/blocks.4.2:70" = "eyes, front view"

A key without a model names the site's first model (as it always has; `FIRST/LAYER:CHANNEL`
names it too). `read_site_labels(path, models)` returns `{model id: {(layer, channel): label}}`;
`models` maps each model id, the first model first, to its layers (name -> channel count).
`read_labels(path, layers)` reads a site of one model: `{(layer, channel): label}` in file order.
Every mistake is one `FeatvisError` line naming
`file:line`: a TOML syntax error, a key that is not `LAYER:CHANNEL`, a value that is not a
non-empty string, a channel named twice (also when written differently, `:070` and `:70`), an
unknown model (with the site's models), an unknown layer (with the valid layers) and a channel out
of range (with the valid range).
A missing file is no labels at all.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

from generator.core.errors import FeatvisError, choices_hint
from generator.core.urls import EXTERNAL_URL

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


SiteModels = Mapping[str, Mapping[str, int]]  # model id (the first first) -> layer -> channels


def split_model(key: str, first: str) -> tuple[str, str]:
    """(model id, `LAYER:CHANNEL`) of a key: `MODEL/LAYER:CHANNEL`, or the first model's."""
    model, slash, rest = key.strip().rpartition("/")
    return (model, rest) if slash else (first, key)


def _duplicates(path: Path, lines: Mapping[str, list[int]], first: str) -> None:
    for key, numbers in lines.items():
        if len(numbers) > 1:
            raise FeatvisError(
                f"{path}:{numbers[1]}: duplicate label for '{key}' (first at line {numbers[0]})"
            )
    seen: dict[tuple[str, str, int], tuple[str, int]] = {}
    for key, numbers in sorted(lines.items(), key=lambda kv: kv[1][0]):
        model, rest = split_model(key, first)
        unit = parse_key(rest)
        if unit is None:
            continue
        parsed = (model, *unit)
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
    url = EXTERNAL_URL.search(value)
    if url:
        snippet = value[url.start() :].split()[0][:60]
        raise FeatvisError(
            f"{where}: the label of '{key}' holds a URL ('{snippet}'); the site reads offline, "
            "so labels hold no links (write the reference without http:// or //)"
        )
    layer, channel = parsed
    if layer not in layers:
        raise FeatvisError(f"{where}: unknown layer '{layer}' ({choices_hint(layer, layers)})")
    if not 0 <= channel < layers[layer]:
        raise FeatvisError(
            f"{where}: channel {channel} out of range for layer '{layer}' "
            f"(valid: 0..{layers[layer] - 1})"
        )
    return parsed, value.strip()


def _model_of(path: Path, line: int | str, key: str, models: SiteModels) -> tuple[str, str]:
    """The model a key names and the rest of the key; an unknown model is an error."""
    model, rest = split_model(key, next(iter(models)))
    if model not in models:
        if len(models) == 1:
            raise FeatvisError(
                f"{path}:{line}: '{key}' names model '{model}', but the site has one model; "
                f'write "LAYER:CHANNEL" = "label"'
            )
        raise FeatvisError(
            f"{path}:{line}: unknown model '{model}' in '{key}' (valid: {', '.join(models)})"
        )
    return model, rest


def parse_site_labels(text: str, path: Path, models: SiteModels) -> dict[str, Labels]:
    """The labels in `text` (the content of `path`) by model, each checked against its model's
    layers (`models`: id -> layer name -> channels, the first model first)."""
    lines = key_lines(text)
    _duplicates(path, lines, next(iter(models)))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(path, exc) from None
    labels: dict[str, Labels] = {model: {} for model in models}
    for key, value in data.items():
        line: int | str = lines[key][0] if key in lines else "?"
        if isinstance(value, dict):
            raise FeatvisError(
                f"{path}:{line}: '{key}' is a table; quote the whole key: "
                f'"LAYER:CHANNEL" = "label"'
            )
        model, rest = _model_of(path, line, key, models)
        channel, label = _check(path, line, rest, value, models[model])
        labels[model][channel] = label
    return labels


def read_site_labels(path: Path, models: SiteModels) -> dict[str, Labels]:
    """The labels of `path` by model (see the module docstring); none when it does not exist."""
    path = Path(path)
    if not path.is_file():
        return {model: {} for model in models}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FeatvisError(f"{path}: cannot read the labels ({type(exc).__name__})") from None
    return parse_site_labels(text, path, models)


def read_labels(path: Path, layers: Mapping[str, int]) -> Labels:
    """The labels of `path` on a site of one model; {} when the file does not exist."""
    return read_site_labels(path, {"": layers})[""]

