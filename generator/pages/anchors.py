"""Links to an anchor of an article (`other.md#section`, `[text](#section)`), checked while the
articles are read, before anything is computed: the anchor must be a heading, a figure, a
footnote or a part of the page that the templates write (`PAGE_IDS`, a reference). With a
`templates_dir` of the site's own, whose ids are not known here, the built site's check alone
finds a missing anchor.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from markupsafe import Markup

from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError, choices_hint
from generator.pages.body import render_body
from generator.pages.content import Page
from generator.pages.links import LINK_TARGETS
from generator.pages.markdown import PAGE_IDS
from generator.pages.text import Lines, mask_code

_ID = re.compile(r"\bid=\"([^\"]+)\"")
_HEADING_ID = re.compile(r"<h[1-6][^>]*\bid=\"([^\"]+)\"")
_VARIABLE_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t].*\{\{", re.MULTILINE)
_PAGE_ANCHOR = re.compile(r"^(?P<slug>[\w-]+)\.html#(?P<frag>.+)$")


def check_anchor_links(pages: Sequence[Page], config: SiteConfig) -> None:
    """Each link to `#anchor` of an article (the page itself or another) names an id that the
    page will have; else `FeatvisError` at the link's line with the page's headings and
    figures."""
    if config.templates_dir is not None:
        return
    by_slug = {page.slug: page for page in pages}
    found: dict[str, tuple[set[str], list[str]] | None] = {}
    for page in pages:
        for slug, frag, where in _anchor_links(page):
            target = by_slug.get(slug)
            if target is None or frag in PAGE_IDS:
                continue
            if slug not in found:
                found[slug] = _page_ids(target)
            known = found[slug]
            if known is None or frag in known[0]:
                continue
            of = "this page" if target is page else str(target.source)
            raise FeatvisError(
                f"{where}: link to '#{frag}' of {of}: it has no such anchor "
                f"({choices_hint(frag, known[1]) if known[1] else 'it has no headings or figures'})"
            )


def _anchor_links(page: Page) -> Iterator[tuple[str, str, str]]:
    """(page slug, fragment, file:line) of each link of `page` to an anchor of an article."""
    texts = [(page.body, page.body_line)]
    for spec in page.figures:
        caption = spec.options.get("caption")
        if isinstance(caption, str):
            texts.append((caption, spec.key_lines.get("caption", spec.line)))
    for text, first in texts:
        masked = mask_code(text.splitlines())
        line_at = Lines(masked, first)
        for pattern in LINK_TARGETS:
            for m in pattern.finditer(masked):
                target = m.group(1)
                if target.startswith("#") and len(target) > 1:
                    yield page.slug, target[1:], f"{page.source}:{line_at(m.start())}"
                elif (link := _PAGE_ANCHOR.match(target)) is not None:
                    slug = link.group("slug")
                    yield slug, link.group("frag"), f"{page.source}:{line_at(m.start())}"


def _page_ids(page: Page) -> tuple[set[str], list[str]] | None:
    """Every id the page's body will have, and its headings' and figures' for a message; None
    when a heading holds a variable (its id is known once the number is)."""
    if _VARIABLE_HEADING.search(page.body):
        return None
    stand_ins = [Markup(f'<div id="{anchor}"></div>') for anchor in page.figure_ids]
    out = str(render_body(page, lambda _name: None, stand_ins).html)
    ids = {*_ID.findall(out), *(ref.anchor for ref in page.references)}
    return ids, [*_HEADING_ID.findall(out), *page.figure_ids]
