"""The site's URL scheme: where each explorer page lives, relative to the site root.

Every URL the site writes is relative; pages at the root reach it with `""`, explorer pages with
`"../"`.
"""

from __future__ import annotations


def layer_url(layer: str, channel: int | None = None) -> str:
    """The explorer page of a layer (relative to the site root), with the channel's anchor."""
    return f"explorer/{layer_file(layer)}" + (f"#ch-{channel}" if channel is not None else "")


def layer_file(layer: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in layer) + ".html"
