"""The offline search index: one JavaScript file, `window.FEATVIS_SEARCH = {...};`.

A page loads it with a `<script>` tag before `static/search.js` (a `fetch()` of JSON fails from
file://). Per channel it holds the model, layer, channel, band, thumbnail URL, page URL, the
ImageNet class names of its top photos, its labels, and whether the build computed it (a labelled
channel the preset did not compute is still found, and says so). URLs are relative to the site
root; the search box's `data-root` turns them into URLs relative to the page.

To keep the file small, models, layers (with their band) and class names are listed once and
channels refer to them by position:

    {"version": 1, "models": [...], "bands": [...], "layers": [[model, name, band], ...],
     "classes": [...], "channels": [[layer, channel, thumbnail, page, [class, ...],
                                      [label, ...], computed], ...]}

`thumbnail` and `page` are "" when there is none. Every `<` is escaped, so the text can never
close a script element.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from generator.models.base import BANDS, LayerInfo

SEARCH_VERSION = 1
SEARCH_GLOBAL = "FEATVIS_SEARCH"


@dataclass(frozen=True)
class SearchEntry:
    model: str
    layer: str
    channel: int
    band: str
    thumbnail: str | None = None
    page: str | None = None
    classes: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    computed: bool = True


def model_entries(
    model: str,
    layers: Sequence[LayerInfo],
    pages: Mapping[tuple[str, int], tuple[str | None, str | None]],
    *,
    classes: Mapping[tuple[str, int], Sequence[str]] | None = None,
    labels: Mapping[tuple[str, int], str] | None = None,
) -> list[SearchEntry]:
    """Entries for one model: every channel in `pages` ((layer, channel) -> (thumbnail, page)
    of a computed channel), then every labelled channel not among them (computed=False), in
    layer order then channel order."""
    classes, labels = classes or {}, labels or {}
    bands = {info.name: info.band for info in layers}
    depth = {info.name: info.depth for info in layers}
    keys = set(pages) | set(labels)
    entries = []
    for layer, channel in sorted(keys, key=lambda k: (depth.get(k[0], len(depth)), k[1])):
        thumbnail, page = pages.get((layer, channel), (None, None))
        label = labels.get((layer, channel))
        entries.append(
            SearchEntry(
                model=model,
                layer=layer,
                channel=channel,
                band=bands.get(layer, ""),
                thumbnail=thumbnail,
                page=page,
                classes=tuple(classes.get((layer, channel), ())),
                labels=(label,) if label else (),
                computed=(layer, channel) in pages,
            )
        )
    return entries


def _positions(values: Iterable[str]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for value in values:
        positions.setdefault(value, len(positions))
    return positions


def search_index(entries: Sequence[SearchEntry]) -> dict[str, object]:
    """The index as plain data (what `search_index_js` serializes)."""
    models = _positions(e.model for e in entries)
    bands = _positions([*BANDS, *(e.band for e in entries)])
    layers = _positions(f"{e.model}\0{e.layer}" for e in entries)
    classes = _positions(c for e in entries for c in e.classes)
    band_of = {f"{e.model}\0{e.layer}": e.band for e in entries}
    return {
        "version": SEARCH_VERSION,
        "models": list(models),
        "bands": list(bands),
        "layers": [
            [models[key.split("\0")[0]], key.split("\0")[1], bands[band_of[key]]]
            for key in layers
        ],
        "classes": list(classes),
        "channels": [
            [
                layers[f"{e.model}\0{e.layer}"],
                e.channel,
                e.thumbnail or "",
                e.page or "",
                [classes[c] for c in e.classes],
                list(e.labels),
                1 if e.computed else 0,
            ]
            for e in entries
        ],
    }


def search_index_js(entries: Sequence[SearchEntry]) -> str:
    """The JavaScript file that defines `window.FEATVIS_SEARCH`."""
    data = json.dumps(search_index(entries), separators=(",", ":"), ensure_ascii=False)
    data = data.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"window.{SEARCH_GLOBAL} = {data};\n"
