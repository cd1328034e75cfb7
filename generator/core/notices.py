"""The build's warnings, gathered through one channel.

Every part of a build that meets something a reader should know about but that does not stop the
build (a figure drawn without what it needs, photos that could not be read, a channel whose
picture disagrees with its photos, a label with no target) calls `Notices.warn(kind, message)`
instead of printing. The build prints them once, in order; a strict build (`--strict`,
`strict = true`) turns them into one `StrictFailure` before anything is published. A few kinds
only inform (`NOTES`): printed as notes, they never fail a strict build.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from generator.core.errors import FeatvisError
from generator.core.words import counted

# The kinds of warning a build gives; `warn` refuses any other so each has one name.
KINDS = {
    "fallback": "a figure or number drawn without what it needs",
    "dataset": "photos that could not be read",
    "agreement": "a channel whose picture excites the layer unlike its photos",
    "label": "a label whose target does not exist",
    "cache": "a damaged cache entry, recomputed",
    "content": "Markdown files in content/ that are not read as articles (in a subfolder)",
    "classes": "class names the search matches by their own words (not in the class hierarchy)",
}
# Kinds that inform rather than warn: printed as notes, never failing a strict build (a photo
# folder named as its author likes, `dogs/`, is no mistake)
NOTES = frozenset({"classes"})
SHOWN = 5  # warnings named in a strict failure's line


@dataclass(frozen=True)
class Notice:
    kind: str
    message: str

    def line(self) -> str:
        return f"{'note' if self.kind in NOTES else 'warning'}: {self.message}"


class StrictFailure(FeatvisError):
    """A strict build met warnings; nothing was published."""


@dataclass
class Notices:
    """The warnings of one build; `report` receives each new one as a line when given."""

    strict: bool = False
    report: Callable[[str], None] | None = None
    items: list[Notice] = field(default_factory=list)

    def warn(self, kind: str, message: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown warning kind {kind!r} (kinds: {', '.join(KINDS)})")
        notice = Notice(kind, message)
        if notice in self.items:
            return
        self.items.append(notice)
        if self.report is not None:
            self.report(notice.line())

    def __len__(self) -> int:
        return len(self.items)

    def check_strict(self, target: str) -> None:
        """Raise `StrictFailure` (one line: the count and the first few) in a strict build."""
        warned = [n for n in self.items if n.kind not in NOTES]
        if not self.strict or not warned:
            return
        shown = "; ".join(n.message for n in warned[:SHOWN])
        more = f"; and {len(warned) - SHOWN} more" if len(warned) > SHOWN else ""
        count = counted(len(warned), "warning")
        raise StrictFailure(f"strict build: {count} ({shown}{more}); {target} unchanged")
