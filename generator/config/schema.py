"""One typed option schema for every input a person writes: site.toml, front matter, figure blocks
and command-line flags.

A value kind (`whole`, `number`, `text`, `choice`, ...) parses a raw value and raises `Invalid`
with what would fit ("must be a whole number 1..4096, not -1"). An `Option` pairs a kind with its
default and documentation; `parse_options` checks a mapping of raw values against a table of
options and names the source of a mistake, the way a person finds it: `site.toml:7`,
`content/a.md:12` or `--batch-size`. Every error is one line, a `FeatvisError` (exit code 2).

The documented ranges live here once: `SEED`, `BATCH_SIZE`, `WORKERS`, `DATASET_TOP_K`, `PORT`,
and the preset overrides `SIZE`, `STEPS` and `CHANNELS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from generator.core.errors import FeatvisError, choices_hint

Kind = Callable[[Any], Any]


class Invalid(ValueError):
    """A value that does not fit its option; the message says what would."""


def whole(lo: int = 0, hi: int | None = None) -> Kind:
    """A whole number in lo..hi (booleans are not numbers)."""

    def parse(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise Invalid(f"must be a whole number {rng}, not {short(v)}")
        return v

    return parse


def side_or_sides(lo: int, hi: int) -> Kind:
    """A picture size: one whole number lo..hi (a square), or two, height and width: [H, W], or
    the text "HxW" (a command-line flag's form)."""
    side = whole(lo, hi)
    valid = f'a whole number {lo}..{hi} (a square), or [H, W] or "HxW" (height, width)'

    def parse(v: Any) -> int | tuple[int, int]:
        pair = v
        if isinstance(v, str) and re.fullmatch(r"\d+[xX]\d+", v.strip()):
            pair = [int(n) for n in re.split("[xX]", v.strip())]
        try:
            if isinstance(pair, list) and len(pair) == 2:
                return (int(side(pair[0])), int(side(pair[1])))
            if not isinstance(pair, list):
                return int(side(pair))
        except Invalid:
            pass
        raise Invalid(f"must be {valid}, not {short(v)}")

    return parse


MAX_NUMBER = 1e6  # the largest magnitude of a number option (weights, strengths, alignment)


def short(v: Any, limit: int = 40) -> str:
    """repr(v), cut to `limit` characters: a 10**400 in a message stays short."""
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number(v: Any) -> float:
    """A number within +-MAX_NUMBER (NaN, infinities and 10**400 do not fit)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not abs(v) <= MAX_NUMBER:
        raise Invalid(f"must be a number from -{MAX_NUMBER:g} to {MAX_NUMBER:g}, not {short(v)}")
    return float(v)


def share(hi: float) -> Kind:
    """A number from 0 to `hi`."""

    def parse(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= hi:
            raise Invalid(f"must be a number from 0 to {hi:g}, not {short(v)}")
        return float(v)

    return parse


def boolean(v: Any) -> bool:
    """true or false (a word like 'banana' is not read as false)."""
    if not isinstance(v, bool):
        raise Invalid(f"must be true or false, not {short(v)}")
    return v


def numbers(v: Any) -> tuple[float, ...]:
    """A non-empty list of finite numbers."""
    if not isinstance(v, list) or not v:
        raise Invalid(f"must be a list of numbers, not {v!r}")
    return tuple(number(x) for x in v)


def normalization(*, positive: bool = False) -> Kind:
    """An input normalization's mean or std: three numbers (R, G, B), or one (a grey network's,
    or one for all three channels: a list of one or a bare number); each above 0 when
    `positive` (a std divides by it)."""

    def parse(v: Any) -> tuple[float, ...]:
        values = (number(v),) if isinstance(v, (int, float)) and not isinstance(v, bool) else (
            numbers(v)
        )
        if len(values) not in (1, 3):
            raise Invalid(f"needs 3 numbers (R, G, B) or 1 (grey), not {short(v)}")
        if positive and not all(x > 0 for x in values):
            raise Invalid(f"needs numbers above 0 (it divides the input), not {short(v)}")
        return values

    return parse


def text(v: Any) -> str:
    if not isinstance(v, str):
        raise Invalid(f"must be text, not {v!r}")
    return v


def words(v: Any) -> str:
    """Text a page shows, not empty: a title or a name."""
    shown = text(v)
    if not shown.strip():
        raise Invalid(f"is empty, not {v!r} (valid: any text but blanks)")
    return shown


def pathname(expected: str) -> Kind:
    """A file's or folder's name: text, not empty (`"."` names site.toml's own folder);
    `expected` says what it must name."""

    def parse(v: Any) -> str:
        name = text(v)
        if not name.strip():
            raise Invalid(f"is empty (valid: {expected}; \".\" is site.toml's own folder)")
        return name

    return parse


def texts(v: Any) -> tuple[str, ...]:
    """A list of text items."""
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise Invalid(f"must be a list of names, not {v!r}")
    return tuple(v)


def device(v: Any) -> str:
    """A device: `auto`, `cpu`, `cuda` or `cuda:N` (whether it runs here is checked as it is
    used, `core.device.resolve_device`)."""
    spec = text(v)
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", spec.strip().lower()):
        raise Invalid(f"'{spec}' is not a device (valid: auto, cpu, cuda, cuda:N)")
    return spec


def choice(*valid: str) -> Kind:
    def parse(v: Any) -> str:
        if v not in valid:
            raise Invalid(f"'{v}' is not known ({choices_hint(str(v), valid)})")
        return str(v)

    return parse


# the Python types `one_of` takes, as a person who writes YAML or TOML names them
TYPE_WORDS = {
    "str": "text", "list": "a list", "date": "a date (YYYY-MM-DD)", "int": "a whole number",
    "float": "a number", "dict": "a table",
}


def one_of(*kinds: type) -> Kind:
    """A value of one of the Python types (TOML and YAML give these), booleans excluded."""
    names = " or ".join(TYPE_WORDS.get(k.__name__, k.__name__) for k in kinds)

    def parse(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, kinds):
            raise Invalid(f"must be {names}, not {short(v)}")
        return v

    return parse


@dataclass(frozen=True)
class Option:
    """An option: how to parse its value, its default, whether it must be given."""

    parse: Kind
    default: Any = None
    required: bool = False
    doc: str = ""


# The documented ranges, shared by site.toml and the command line.
SEED = Option(whole(0, 2**63 - 1), 0, doc="base random seed")
BATCH_SIZE = Option(whole(1, 4096), doc="images per optimizer batch")
WORKERS = Option(
    whole(1, 256), doc="processes computing on a CPU (default: one per core, at most 8)"
)
DATASET_TOP_K = Option(whole(1, 1000), 8, doc="photos kept per channel and direction")
PORT = Option(whole(0, 65535), 8000, doc="the preview server's port (0: any free one)")
SIZE = Option(whole(16, 1024), doc="image size in pixels (overrides the preset)")
STEPS = Option(whole(1, 100_000), doc="optimizer steps (overrides the preset)")
CHANNELS = Option(whole(1, 100_000), doc="channels per explorer layer (overrides the preset)")
CLOSURE = Option(
    share(10), doc="the circuit closure's visualizations, as a share of the rest of the plan's "
    "(overrides the preset; 0: none)",
)


def parse_options(
    table: Mapping[str, Option],
    values: Mapping[str, Any],
    where: Callable[[str | None], str],
    what: str = "",
    *,
    noun: str = "",
    defaults: bool = True,
) -> dict[str, Any]:
    """Check `values` against `table`: unknown keys, wrong kinds, missing required options.

    `where(key)` names the source of a key (`where(None)`: the whole block); `what` prefixes the
    message ("figure 'negative': "), `noun` names the kind of key ("front matter "). With
    `defaults`, every option of the table is in the result.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in table:
            raise FeatvisError(
                f"{where(str(key))}: {what}unknown {noun}key '{key}' "
                f"({choices_hint(str(key), table)})"
            )
        try:
            out[key] = table[key].parse(value)
        except Invalid as exc:
            raise FeatvisError(f"{where(key)}: {what}{noun}'{key}' {exc}") from None
    for key, option in table.items():
        if key in out:
            continue
        if option.required:
            raise FeatvisError(f"{where(None)}: {what.rstrip(': ')} needs '{key}'")
        if defaults:
            out[key] = option.default
    return out


def parse_flag(flag: str, option: Option, raw: str | None) -> Any:
    """A command-line value (text) through its option: `--batch-size: must be ...`."""
    if raw is None or not isinstance(raw, str):
        return raw  # not given, or a default argparse already typed
    value: Any = raw
    try:
        value = int(raw)
    except ValueError:
        try:
            value = float(raw)
        except ValueError:
            value = raw
    try:
        return option.parse(value)
    except Invalid as exc:
        raise FeatvisError(f"{flag} {exc}") from None
