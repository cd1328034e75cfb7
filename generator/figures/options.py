"""Figure options: a block's options parsed once into a frozen value, and the value kinds figure
blocks need beyond the shared schema's (`generator.config.schema`), each raising `Invalid` with
what would fit.

A figure type declares `OPTIONS = {"key": Option(kind, default)}`; `FigureOptions.parse` checks a
block's keys against them through `parse_options` (naming the file, the line and the valid
choices) and holds every key of the type, defaults filled in. The value never changes: binding a
figure to its model makes a new one (`replace`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from generator.config.schema import Invalid, Option, parse_options, text, whole
from generator.core.errors import FeatvisError
from generator.pages.content import FigureSpec

LAYOUTS = ("text", "page", "screen")


_OUTSIDE = re.compile(r"(?:\b[A-Za-z][A-Za-z0-9+.-]*:|\(\s*)//|\b(?:javascript|data):(?=\S)", re.I)


def _text(v: Any) -> str:
    """Caption or title text (Markdown): links must stay inside the site, which reads offline."""
    value = text(v)
    if _OUTSIDE.search(value):
        raise Invalid(
            "links outside the site; the site reads offline, so write the reference as text"
        )
    if "{{" in value and "}}" in value:
        raise Invalid("takes no {{ variables }}; quote the figure's numbers in the text around it")
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



class FigureOptions(Mapping[str, Any]):
    """A figure block's options, every key of its type (`options["layer"]`), read-only."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = MappingProxyType(dict(values))

    @classmethod
    def parse(cls, table: Mapping[str, Option], spec: FigureSpec, kind: str) -> FigureOptions:
        """`spec`'s options checked against `table` (the figure type's `all_options()`)."""
        out = parse_options(table, spec.options, spec.where, f"figure '{kind}': ")
        if "id" in spec.options and not _is_id(out["id"]):
            raise FeatvisError(
                f"{spec.where('id')}: figure id '{out['id']}' must be letters, digits, '-' or '_'"
            )
        return cls(out)

    def replace(self, **changes: Any) -> FigureOptions:
        """A new value with `changes` (keys the figure has) in place of the old ones."""
        unknown = set(changes) - set(self._values)
        if unknown:
            raise KeyError(f"no option {sorted(unknown)[0]!r}")
        return FigureOptions({**self._values, **changes})

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FigureOptions) and dict(self._values) == dict(other._values)

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self._values.items())))

    def __repr__(self) -> str:
        return f"FigureOptions({dict(self._values)!r})"
