"""The Jinja2 environment (autoescape on, the site's own templates before ours) and HTML helpers.
"""

from __future__ import annotations

import re

import jinja2

from generator.config.site import SiteConfig
from generator.core.resources import shipped
from generator.figures.checks import (
    LOW_AGREEMENT,
)
from generator.pages.markdown import format_value, render_inline

TEMPLATES_DIR = shipped("templates", "templates")


def make_env(config: SiteConfig) -> jinja2.Environment:
    """Jinja2 with autoescape on; the site's own templates (templates_dir) shadow ours."""
    paths = [str(config.templates_dir)] if config.templates_dir else []
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*paths, str(TEMPLATES_DIR)]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v, fmt=None, arg=None: format_value(v, fmt, arg)
    env.filters["inline"] = render_inline
    env.globals["LOW_AGREEMENT"] = LOW_AGREEMENT
    return env


_FOOTNOTES = re.compile(r'<div class="footnote">.*</div>\s*$', re.DOTALL)


def split_footnotes(html: str) -> tuple[str, str]:
    """The body without its footnote list, and the list (Python-Markdown appends it last)."""
    m = _FOOTNOTES.search(html)
    if not m:
        return html, ""
    return html[: m.start()], m.group(0)
