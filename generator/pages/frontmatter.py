"""An article's front matter: YAML between '---' lines, each key typed and placed by its line.

Keys: title (required; the home page's, index.md's, defaults to the site's title), description,
authors, date and updated (YYYY-MM-DD), model, order, bibliography and nocite (read by
`generator.pages.citations`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.config.schema import Option, one_of, parse_options, whole
from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError

# The keys an article's front matter may hold, typed by the shared schema.
FRONT_MATTER_KEYS: dict[str, Option] = {
    "title": Option(one_of(str)),
    "description": Option(one_of(str)),
    "authors": Option(one_of(list, str)),
    "date": Option(one_of(str, dt.date)),
    "updated": Option(one_of(str, dt.date)),  # the last substantial revision, after `date`
    "model": Option(one_of(str)),
    "order": Option(whole(-1_000_000, 1_000_000)),
    "bibliography": Option(one_of(str)),  # a .bib under content/ (generator.pages.citations)
    "nocite": Option(one_of(list, str)),
}


@dataclass(frozen=True)
class Author:
    name: str
    affiliations: tuple[str, ...] = ()


def _refuse_aliases(text: str, first_line: int, where: Path, what: str) -> None:
    """YAML aliases (`*name`) can expand a few hundred bytes into gigabytes: refused, with the
    line of the first one. Reading the event stream expands nothing."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            line = first_line + event.start_mark.line
            raise FeatvisError(
                f"{where}:{line}: malformed {what}: YAML aliases (*{str(event.anchor)[:20]}) are "
                "not allowed; write the value out"
            )


def _construct(node: Any, first_line: int, where: Path, what: str) -> Any:
    """The Python value of a composed YAML node; a scalar YAML reads as an impossible date
    (2024-02-30) is an error naming its line, not a traceback."""
    if node is None:
        return None
    try:
        return yaml.SafeLoader("").construct_document(node)
    except (ValueError, OverflowError) as exc:
        bad = _bad_scalar(node)
        line = first_line + (bad.start_mark.line if bad is not None else 0)
        value = f" '{str(bad.value)[:40]}'" if bad is not None else ""
        raise FeatvisError(
            f"{where}:{line}: malformed {what}: value{value} cannot be read ({str(exc)[:80]})"
        ) from None


def _bad_scalar(node: Any) -> Any:
    if isinstance(node, yaml.ScalarNode):
        try:
            yaml.SafeLoader("").construct_object(node)
        except (ValueError, OverflowError):
            return node
        return None
    children = node.value if isinstance(node, yaml.SequenceNode) else [
        n for pair in node.value for n in pair
    ] if isinstance(node, yaml.MappingNode) else []
    for child in children:
        found = _bad_scalar(child)
        if found is not None:
            return found
    return None


# PyYAML's context of an error inside something left open -> what the author left open
_UNCLOSED = {
    "while parsing a flow sequence": "the '['",
    "while parsing a flow mapping": "the '{'",
    "while scanning a quoted scalar": "the quote",
}


def yaml_with_lines(
    text: str, first_line: int, where: Path, what: str
) -> tuple[Any, dict[str, int]]:
    """Parse YAML; return the data and the file line of every top-level key."""
    try:
        _refuse_aliases(text, first_line, where, what)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = _construct(node, first_line, where, what)
    except RecursionError:
        raise FeatvisError(f"{where}:{first_line}: malformed {what}: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        context = getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        opened = _UNCLOSED.get(str(getattr(exc, "context", "")))
        if mark is not None and context is not None and opened and context.line < mark.line:
            # a bracket or quote left open: the mistake is where it opened, not where YAML choked
            at = first_line + mark.line
            problem = f"{opened} opened here is not closed ({problem} on line {at})"
            mark = context
        elif mark is not None and mark.line >= len(text.splitlines()):
            mark = context or mark  # at the end: where it began
        line = first_line + (mark.line if mark else 0)
        if "but got '['" in problem:  # `layers: [edges, parts[-1]]`: an item with brackets
            problem += ' (quote a list item that holds brackets: [edges, "parts[-1]"])'
        if "character '@'" in problem:  # `caption: [@key] ...`: a citation read as a list
            problem += ' (quote a value that starts with a citation: caption: "[@key] ...")'
        raise FeatvisError(f"{where}:{line}: malformed {what}: {problem}") from None
    key_lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            key_lines[str(key_node.value)] = first_line + key_node.start_mark.line
    return data, key_lines


def front_matter(lines: list[str], shown: Path) -> tuple[dict[str, Any], dict[str, int], int]:
    if not lines or lines[0].strip() != "---":
        raise FeatvisError(
            f"{shown}:1: missing front matter: start the file with '---', a 'title:' line and '---'"
        )
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        raise FeatvisError(f"{shown}:1: malformed front matter: no closing '---' line")
    meta, key_lines = yaml_with_lines("\n".join(lines[1:end]), 2, shown, "front matter")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise FeatvisError(
            f"{shown}:2: malformed front matter: expected 'key: value' lines, not "
            f"{type(meta).__name__}"
        )
    return meta, key_lines, end + 1


def front_fields(
    meta: dict[str, Any],
    key_lines: dict[str, int],
    shown: Path,
    config: SiteConfig,
    strict_model: bool,
) -> dict[str, Any]:
    def where(key: str | None) -> str:
        return f"{shown}:{key_lines.get(key, 1) if key else 1}"

    parse_options(FRONT_MATTER_KEYS, meta, where, noun="front matter ", defaults=False)
    if not str(meta.get("title", "")).strip():
        raise FeatvisError(f"{shown}:1: front matter needs a 'title'")
    model = meta.get("model")
    if strict_model and model is not None and model not in config.model_ids:
        raise FeatvisError(
            f"{where('model')}: page is written for model '{model}' but the site builds "
            f"{', '.join(config.model_ids)} (valid: {', '.join(config.model_ids)})"
        )
    date, updated = (_date(meta.get(key), where(key)) for key in ("date", "updated"))
    if updated and not date:
        raise FeatvisError(f"{where('updated')}: 'updated' needs a 'date' (the first publication)")
    if updated and date and updated < date:
        raise FeatvisError(f"{where('updated')}: updated {updated} is before the date {date}")
    return {
        "title": meta["title"].strip(),
        "description": meta.get("description", "").strip(),
        "authors": _authors(meta.get("authors", []), where("authors")),
        "date": date.isoformat() if date else None,
        "updated": updated.isoformat() if updated else None,
        "model": model,
        "order": meta.get("order", 0),
    }


def _date(value: Any, where: str) -> dt.date | None:
    """A front matter date: YAML reads YYYY-MM-DD as a date; a string must be one."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise FeatvisError(f"{where}: date '{value}' is not YYYY-MM-DD") from None
    return value if isinstance(value, dt.date) else None


def _authors(value: Any, where: str) -> tuple[Author, ...]:
    items = [value] if isinstance(value, str) else value
    authors = []
    for item in items:
        if isinstance(item, str):
            authors.append(Author(item.strip()))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise FeatvisError(
                f"{where}: each author is a name or {{name: ..., affiliation: ...}}, not {item!r}"
            )
        unknown = set(item) - {"name", "affiliation", "affiliations"}
        if unknown:
            bad = sorted(unknown, key=str)[0]  # YAML keys may be numbers
            raise FeatvisError(
                f"{where}: unknown author key '{bad}' (valid: name, affiliation, affiliations)"
            )
        affs = item.get("affiliations", item.get("affiliation", []))
        affs = [affs] if isinstance(affs, str) else affs
        if not isinstance(affs, list) or not all(isinstance(a, str) for a in affs):
            raise FeatvisError(
                f"{where}: affiliations of '{item['name']}' must be text or a list of text"
            )
        authors.append(Author(item["name"].strip(), tuple(a.strip() for a in affs)))
    return tuple(authors)
