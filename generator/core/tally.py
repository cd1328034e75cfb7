"""What the caches lack, counted by kind.

`featvis render` draws from the caches only; each stage that finds something missing adds its
count under a kind, a phrase with `{}` where the count goes and `{s}` where a plural ending goes
(`"{} pattern check{s}"`, `"the filters of {} layer{s}"`). The build adds up every model's tally
and names it in one line.
"""

from __future__ import annotations

from collections.abc import Iterable

from generator.core.words import ending


class Lacking:
    """A tally of what is missing: kind -> count, in the order the kinds were first added."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, kind: str, count: int) -> None:
        """`count` more of `kind` (nothing when `count` is 0)."""
        if count:
            self.counts[kind] = self.counts.get(kind, 0) + count

    @classmethod
    def total(cls, tallies: Iterable[Lacking]) -> Lacking:
        """The sum of `tallies`, kind by kind."""
        out = cls()
        for tally in tallies:
            for kind, count in tally.counts.items():
                out.add(kind, count)
        return out

    def copy(self) -> Lacking:
        return Lacking.total([self])

    def phrases(self) -> list[str]:
        """Each kind with its count: `["3 pattern checks", "the filters of 1 layer"]` (a kind's
        `{s}` and `{es}` are the plural endings, empty for a count of 1)."""
        return [
            kind.format(count, s=ending(count), es=ending(count, "es"))
            for kind, count in self.counts.items()
        ]

    def __bool__(self) -> bool:
        return bool(self.counts)

    def __repr__(self) -> str:
        return f"Lacking({self.counts!r})"
