"""Figure options: one parser per kind of value, each raising `_Bad` with what would fit.

A figure type declares `OPTIONS = {"key": Option(parser, default)}`; `Figure` checks a block's keys
against them and names the file, the line and the valid choices on a mistake.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

COMMON_OPTIONS = ("id", "caption", "title", "layout")
LAYOUTS = ("text", "page", "screen")


class _Bad(ValueError):
    """An option value that does not fit; the message says what would."""


def _int(v: Any, lo: int = 0, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise _Bad(f"must be a whole number {rng}, not {v!r}")
    return v


MAX_NUMBER = 1e6  # the largest magnitude of a number option (weights, strengths, alignment)


def _float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not abs(v) <= MAX_NUMBER:
        raise _Bad(f"must be a number from -{MAX_NUMBER:g} to {MAX_NUMBER:g}, not {_short(v)}")
    return float(v)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Bad(f"must be true or false, not {_short(v)}")
    return v


def _floats(v: Any) -> tuple[float, ...]:
    if not isinstance(v, list) or not v:
        raise _Bad(f"must be a list of numbers, not {v!r}")
    return tuple(_float(x) for x in v)


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise _Bad(f"must be text, not {v!r}")
    return v


_OUTSIDE = re.compile(r"(?:\b[A-Za-z][A-Za-z0-9+.-]*:|\(\s*)//|\b(?:javascript|data):(?=\S)", re.I)


def _text(v: Any) -> str:
    """Caption or title text (Markdown): links must stay inside the site, which reads offline."""
    text = _str(v)
    if _OUTSIDE.search(text):
        raise _Bad("links outside the site; the site reads offline, so write the reference as text")
    return text


def _choice(*valid: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in valid:
            raise _Bad(f"'{v}' is not known (valid: {', '.join(valid)})")
        return str(v)

    return check


def _layers(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        return (v,)
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise _Bad(f"must be a layer name or a list of layer names, not {v!r}")
    return tuple(v)


def _channels(v: Any) -> int | tuple[int, ...]:
    """`channels: 4` (the build chooses 4) or `channels: [3, 17]` (these)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return _int(v, 1, 64)
    if isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return tuple(_int(x) for x in v)
    raise _Bad(
        f"must be a count the build chooses (e.g. 4) or a list of channel numbers, not {v!r}"
    )


def _unit(v: Any) -> tuple[str, int]:
    if isinstance(v, str) and ":" in v and v.rpartition(":")[2].isdigit():
        layer, _, ch = v.rpartition(":")
        return layer, int(ch)
    raise _Bad(f"units are written LAYER:CHANNEL, e.g. blocks.4.0:12, not {v!r}")


def _pairs(v: Any) -> int | tuple[tuple[tuple[str, int], tuple[str, int]], ...]:
    if isinstance(v, int) and not isinstance(v, bool):
        return _int(v, 1, 16)
    if isinstance(v, list) and v and all(isinstance(p, list) and len(p) == 2 for p in v):
        return tuple((_unit(a), _unit(b)) for a, b in v)
    raise _Bad(f"must be a count (e.g. 3) or a list of [LAYER:CH, LAYER:CH] pairs, not {v!r}")


def _class(v: Any) -> str | int:
    if isinstance(v, (str, int)) and not isinstance(v, bool):
        return v
    raise _Bad(f"must be a class name or index (or 'auto'), not {v!r}")


@dataclass(frozen=True)
class Option:
    parse: Callable[[Any], Any]
    default: Any = None
    required: bool = False


def _is_id(value: str) -> bool:
    return bool(value) and all(c.isalnum() or c in "-_" for c in value) and value[0].isalpha()
