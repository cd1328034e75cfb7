"""The offline search index: one JavaScript file, `window.FEATVIS_SEARCH = {...};`.

A page loads it with a `<script>` tag before `static/search.js` (a `fetch()` of JSON fails from
file://). Per channel it holds the model (its id, which a query `MODEL/LAYER:CHANNEL` names,
and its display name, which the results show), layer, channel, band, thumbnail URL, page URL, the
classes that drive it (each with its strength, 0..1: `channel_classes`), its labels, and whether
the build computed it (a labelled channel the preset did not compute is still found, and says
so). URLs are relative to the site root; the search box's `data-root` turns them into URLs
relative to the page.

Each class the index names carries its kinds: its WordNet lemmas and those of its ancestors in
the ImageNet hierarchy (`generator.atlas.hierarchy`), so that `dog` finds every breed. A class
the hierarchy does not hold has none and is matched by its own words (`unknown_classes` names
them, for the build to say so once).

To keep the file small, models, layers (with their band) and class names are listed once and
channels refer to them by position:

    {"version": 3, "models": [...], "names": [...], "bands": [...],
     "layers": [[model, name, band], ...], "classes": [...], "terms": [...],
     "kinds": [[term, ...] per class],
     "channels": [[layer, channel, thumbnail, page, [class, ...], [label, ...], computed,
                   [strength in percent per class]], ...]}

`names` holds each model's display name, by the position of its id in `models`. `thumbnail` and
`page` are "" when there is none. Every `<` is escaped, so the text can never
close a script element.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from generator.atlas.hierarchy import Hierarchy, photo_class
from generator.models.base import BANDS, LayerInfo

SEARCH_VERSION = 3
CHANNEL_CLASSES = 8  # classes kept per channel, the strongest
SEARCH_GLOBAL = "FEATVIS_SEARCH"


@dataclass(frozen=True)
class SearchEntry:
    model: str
    layer: str
    channel: int
    band: str
    thumbnail: str | None = None
    page: str | None = None
    classes: tuple[str, ...] = ()  # strongest first
    labels: tuple[str, ...] = ()
    computed: bool = True
    strengths: tuple[float, ...] = ()  # per class, 0..1 (missing: 1)
    model_name: str = ""  # the model's display name (empty: its id)


def channel_classes(
    top: Sequence[tuple[str, float]],
    readings: Sequence[tuple[str, float]] = (),
    hierarchy: Hierarchy | None = None,
) -> list[tuple[str, float]]:
    """The classes that drive a channel, strongest first, each with its strength 0..1: the class
    of each top photo (`top`: its path relative to the folder and its activation; the class from
    `photo_class`, a wnid named as the site names it) at its activation relative to the strongest
    photo's, and the model's `readings` ((class, probability): of the top photo, of the
    visualization) at their probability; a class met twice keeps its greatest strength."""
    strength: dict[str, float] = {}
    peak = max((a for _, a in top), default=0.0)
    for rel, activation in top:
        name = photo_class(rel)
        if name is None:
            continue
        name = (hierarchy.name(name) if hierarchy else None) or name.replace("_", " ")
        share = activation / peak if peak > 0 else 0.0
        strength[name] = max(strength.get(name, 0.0), min(1.0, max(0.0, share)))
    for name, p in readings:
        strength[name] = max(strength.get(name, 0.0), min(1.0, max(0.0, float(p))))
    ranked = sorted(strength.items(), key=lambda kv: -kv[1])
    return ranked[:CHANNEL_CLASSES]


def unknown_classes(entries: Sequence[SearchEntry], hierarchy: Hierarchy) -> list[str]:
    """The class names of `entries` the hierarchy does not hold, sorted."""
    return sorted({c for e in entries for c in e.classes if hierarchy.kinds(c) is None})


def model_entries(
    model: str,
    layers: Sequence[LayerInfo],
    pages: Mapping[tuple[str, int], tuple[str | None, str | None]],
    *,
    classes: Mapping[tuple[str, int], Sequence[str | tuple[str, float]]] | None = None,
    labels: Mapping[tuple[str, int], str] | None = None,
    name: str = "",
) -> list[SearchEntry]:
    """Entries for one model (`name`: its display name, else its id): every channel in `pages`
    ((layer, channel) -> (thumbnail, page) of a computed channel), then every labelled channel
    not among them (computed=False), in layer order then channel order. `classes` gives a
    channel's class names, or (name, strength) pairs, strongest first."""
    classes, labels = classes or {}, labels or {}
    bands = {info.name: info.band for info in layers}
    depth = {info.name: info.depth for info in layers}
    keys = set(pages) | set(labels)
    entries = []
    for layer, channel in sorted(keys, key=lambda k: (depth.get(k[0], len(depth)), k[1])):
        thumbnail, page = pages.get((layer, channel), (None, None))
        label = labels.get((layer, channel))
        named = [(c, 1.0) if isinstance(c, str) else c for c in classes.get((layer, channel), ())]
        entries.append(
            SearchEntry(
                model=model,
                layer=layer,
                channel=channel,
                band=bands.get(layer, ""),
                thumbnail=thumbnail,
                page=page,
                classes=tuple(name for name, _ in named),
                labels=(label,) if label else (),
                computed=(layer, channel) in pages,
                strengths=tuple(float(s) for _, s in named),
                model_name=name,
            )
        )
    return entries


def _positions(values: Iterable[str]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for value in values:
        positions.setdefault(value, len(positions))
    return positions


def search_index(
    entries: Sequence[SearchEntry], hierarchy: Hierarchy | None = None
) -> dict[str, object]:
    """The index as plain data (what `search_index_js` serializes); each class's kinds from
    `hierarchy` (none without one)."""
    models = _positions(e.model for e in entries)
    names = {e.model: e.model_name or e.model for e in entries}
    bands = _positions([*BANDS, *(e.band for e in entries)])
    layers = _positions(f"{e.model}\0{e.layer}" for e in entries)
    classes = _positions(c for e in entries for c in e.classes)
    band_of = {f"{e.model}\0{e.layer}": e.band for e in entries}
    kinds = [(hierarchy.kinds(c) if hierarchy else None) or () for c in classes]
    terms = _positions(t for found in kinds for t in found)
    return {
        "version": SEARCH_VERSION,
        "models": list(models),
        "names": [names[m] for m in models],
        "bands": list(bands),
        "layers": [
            [models[key.split("\0")[0]], key.split("\0")[1], bands[band_of[key]]]
            for key in layers
        ],
        "classes": list(classes),
        "terms": list(terms),
        "kinds": [[terms[t] for t in found] for found in kinds],
        "channels": [
            [
                layers[f"{e.model}\0{e.layer}"],
                e.channel,
                e.thumbnail or "",
                e.page or "",
                [classes[c] for c in e.classes],
                list(e.labels),
                1 if e.computed else 0,
                [_percent(e.strengths[i]) if i < len(e.strengths) else 100
                 for i in range(len(e.classes))],
            ]
            for e in entries
        ],
    }


def _percent(strength: float) -> int:
    return round(100 * min(1.0, max(0.0, strength)))


def search_index_js(entries: Sequence[SearchEntry], hierarchy: Hierarchy | None = None) -> str:
    """The JavaScript file that defines `window.FEATVIS_SEARCH`."""
    data = json.dumps(search_index(entries, hierarchy), separators=(",", ":"), ensure_ascii=False)
    data = data.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"window.{SEARCH_GLOBAL} = {data};\n"
