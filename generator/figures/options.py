"""Figure options: the value kinds figure blocks need beyond the shared schema's
(`generator.config.schema`), each raising `Invalid` with what would fit.

A figure type declares `OPTIONS = {"key": Option(kind, default)}`; `Figure` checks a block's keys
against them through `parse_options` and names the file, the line and the valid choices.
"""

from __future__ import annotations

import re
from typing import Any

from generator.config.schema import Invalid, text, whole

LAYOUTS = ("text", "page", "screen")


_OUTSIDE = re.compile(r"(?:\b[A-Za-z][A-Za-z0-9+.-]*:|\(\s*)//|\b(?:javascript|data):(?=\S)", re.I)


def _text(v: Any) -> str:
    """Caption or title text (Markdown): links must stay inside the site, which reads offline."""
    value = text(v)
    if _OUTSIDE.search(value):
        raise Invalid(
            "links outside the site; the site reads offline, so write the reference as text"
        )
    return value


def _layers(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        return (v,)
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise Invalid(f"must be a layer name or a list of layer names, not {v!r}")
    return tuple(v)


def _channels(v: Any) -> int | tuple[int, ...]:
    """`channels: 4` (the build chooses 4) or `channels: [3, 17]` (these)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return whole(1, 64)(v)
    if isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return tuple(whole()(x) for x in v)
    raise Invalid(
        f"must be a count the build chooses (e.g. 4) or a list of channel numbers, not {v!r}"
    )


def _unit(v: Any) -> tuple[str, int]:
    if isinstance(v, str) and ":" in v and v.rpartition(":")[2].isdigit():
        layer, _, ch = v.rpartition(":")
        return layer, int(ch)
    raise Invalid(f"units are written LAYER:CHANNEL, e.g. blocks.4.0:12, not {v!r}")


def _pairs(v: Any) -> int | tuple[tuple[tuple[str, int], tuple[str, int]], ...]:
    if isinstance(v, int) and not isinstance(v, bool):
        return whole(1, 16)(v)
    if isinstance(v, list) and v and all(isinstance(p, list) and len(p) == 2 for p in v):
        return tuple((_unit(a), _unit(b)) for a, b in v)
    raise Invalid(f"must be a count (e.g. 3) or a list of [LAYER:CH, LAYER:CH] pairs, not {v!r}")


def _class(v: Any) -> str | int:
    if isinstance(v, (str, int)) and not isinstance(v, bool):
        return v
    raise Invalid(f"must be a class name or index (or 'auto'), not {v!r}")


def _is_id(value: str) -> bool:
    return bool(value) and all(c.isalnum() or c in "-_" for c in value) and value[0].isalpha()

