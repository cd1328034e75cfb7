"""The variables an article quotes: `{{ name }}`, `{{ name | fmt }}`, `{{ name | fmt:N }}` and
`{{ name | fmt | default:"text" }}`, parsed and checked while the page is read.

`name` is one of `VARIABLES` (the site, its model, the preset and the photos) or
`numbers.FIGURE.KEY`, a number one of the page's figures measures (checked against the figures by
`generator.figures.registry.check_figures`). The build fills them (`generator.pages.body`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from generator.core.errors import FeatvisError, choices_hint
from generator.pages.markdown import FORMATS, MAX_DIGITS
from generator.pages.text import Lines

# Names every page may quote; `numbers.FIGURE.KEY` come from the page's figures.
VARIABLES = (
    "site.title",
    "site.models",
    "site.layers",
    "site.channels",
    "model.id",
    "model.name",
    "model.description",
    "model.input_size",
    "model.grid",
    "model.grid_shape",
    "model.layers",
    "model.channels",
    "model.classes",
    "model.weights",
    "preset.name",
    "preset.size",
    "preset.steps",
    "preset.optimizer",
    "dataset.images",
    "dataset.skipped",
)

_VAR = re.compile(r"\{\{(.*?)\}\}")
_VAR_BODY = re.compile(
    r"^\s*([A-Za-z_][\w.-]*)\s*"
    r"(?:\|\s*([a-z]+)\s*(?::\s*(\d+))?\s*)?"  # | fmt or | fmt:N
    r'(?:\|\s*default\s*:\s*"([^"]*)"\s*)?$'  # | default:"text where nothing was measured"
)


@dataclass(frozen=True)
class VariableRef:
    name: str
    fmt: str | None
    arg: int | None
    line: int
    start: int  # offset in Page.body
    end: int
    fallback: str | None = None  # shown instead of "n/a" when the build has no value


def find_variables(masked: str, first: int, shown: Path) -> list[VariableRef]:
    """Every `{{ ... }}` of `masked` (the page's body with code masked; its first line is line
    `first`), parsed and its format checked (`FeatvisError` at `shown`:line)."""
    refs = []
    line_at = Lines(masked, first)
    for m in _VAR.finditer(masked):
        line = line_at(m.start())
        body = _VAR_BODY.match(m.group(1))
        if not body:
            raise FeatvisError(
                f"{shown}:{line}: malformed template variable '{m.group(0)}' (write "
                f"{{{{ name }}}}, {{{{ name | fmt }}}} or "
                f'{{{{ name | fmt | default:"text" }}}}, fmt one of: {", ".join(FORMATS)})'
            )
        name, fmt, arg, fallback = body.groups()
        if fmt is not None and fmt not in FORMATS:
            raise FeatvisError(
                f"{shown}:{line}: unknown format '{fmt}' ({choices_hint(fmt, FORMATS)})"
            )
        if arg and (len(arg) > 2 or int(arg) > MAX_DIGITS):
            raise FeatvisError(
                f"{shown}:{line}: '{fmt}:{arg[:12]}' asks for too many digits (0..{MAX_DIGITS})"
            )
        refs.append(
            VariableRef(
                name, fmt, int(arg) if arg else None, line, m.start(), m.end(), fallback
            )
        )
    at = _VAR.sub(lambda m: " " * len(m.group(0)), masked).find("{{")
    if at >= 0:
        raise FeatvisError(
            f"{shown}:{line_at(at)}: unclosed template variable "
            f"'{masked[at:].split(chr(10), 1)[0][:40]}' (a variable is '{{{{ name }}}}' on one "
            "line; inside `code` braces stay as written)"
        )
    return refs


def check_variable(name: str, figure_keys: Mapping[str, tuple[str, ...]], where: str) -> None:
    """`name` one of `VARIABLES`, or `numbers.FIGURE.KEY` of a figure of the page (`figure_keys`:
    each figure id's number keys); else a `FeatvisError` at `where` with the valid choices."""
    if name in VARIABLES:
        return
    parts = name.split(".")
    if parts[0] != "numbers":
        raise FeatvisError(
            f"{where}: unknown variable '{name}' "
            f"({choices_hint(name, [*VARIABLES, 'numbers.FIGURE-ID.KEY'])})"
        )
    if len(parts) == 2 and parts[1] in figure_keys:
        raise FeatvisError(
            f"{where}: '{name}' names a figure but no number (write numbers.{parts[1]}.KEY; "
            f"keys: {', '.join(figure_keys[parts[1]]) or '(this figure has none)'})"
        )
    if len(parts) < 3 or parts[1] not in figure_keys:
        fig = parts[1] if len(parts) > 1 else ""
        ids = list(figure_keys) or ["(no figure on this page has numbers)"]
        raise FeatvisError(
            f"{where}: unknown figure '{fig}' in '{name}' (figure ids on this page: "
            f"{', '.join(ids)})"
        )
    key = ".".join(parts[2:])
    if key not in figure_keys[parts[1]]:
        raise FeatvisError(
            f"{where}: figure '{parts[1]}' has no number '{key}' "
            f"({choices_hint(key, figure_keys[parts[1]])})"
        )
