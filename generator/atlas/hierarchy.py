"""The ImageNet-1k class hierarchy the search matches words through (`dog` finds every breed).

`imagenet_hierarchy.json`, next to this module, lists each of the 1000 classes (wnid, the name
the site shows, its WordNet 3.0 lemmas) and every WordNet node above it; it was made once from
WordNet 3.0 by `scripts/make_imagenet_hierarchy.py` (its docstring says how to run it again).

`load_hierarchy()` reads it (a damaged file: one `FeatvisError` naming it).
`Hierarchy.kinds(name)` gives a class's own lemmas and those of every ancestor, the class named by
its site name, a lemma or its wnid (None for a name the hierarchy does not hold: the search then
matches the name's own words).
`photo_class(rel)` reads a photo's class from its place in the folder: the subfolder it lies in,
else an ImageNet wnid its file name starts with (`n02099601_123.jpg`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

from generator.core.errors import FeatvisError

HIERARCHY_FILE = Path(__file__).with_name("imagenet_hierarchy.json")
WNID = re.compile(r"^n\d{8}")


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).lower()


@dataclass(frozen=True)
class Hierarchy:
    names: tuple[str, ...]  # class i's name as the site shows it
    kinds_of: dict[str, tuple[str, ...]]  # a class's key (name, lemma, wnid) -> ancestor lemmas
    name_of: dict[str, str]  # a class's key -> its site name

    def kinds(self, name: str) -> tuple[str, ...] | None:
        """The class's own WordNet lemmas, then every lemma of its ancestors, nearest first
        (None: not a class of the hierarchy)."""
        return self.kinds_of.get(_key(name))

    def name(self, key: str) -> str | None:
        """The site name of a class given by name, lemma or wnid."""
        return self.name_of.get(_key(key))


def _parse(data: object) -> Hierarchy:
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ValueError("not a version-1 hierarchy")
    names, nodes = data["names"], data["nodes"]
    if not (isinstance(names, list) and isinstance(nodes, list) and len(nodes) >= len(names)):
        raise ValueError("'names' and 'nodes' must be lists, a node per class at least")
    kinds_of: dict[str, tuple[str, ...]] = {}
    name_of: dict[str, str] = {}
    for i, name in enumerate(names):
        wnid, own = str(nodes[i][0]), str(nodes[i][1]).split(", ")
        lemmas, seen, order, todo = list(own), {i}, [], list(nodes[i][2])
        while todo:  # breadth first: the nearest ancestors first
            j = todo.pop(0)
            if j in seen:
                continue
            seen.add(j)
            order.append(j)
            todo += nodes[j][2]
        for j in order:
            lemmas += [lemma for lemma in str(nodes[j][1]).split(", ") if lemma not in lemmas]
        for key in (name, wnid, *own):
            kinds_of.setdefault(_key(key), tuple(lemmas))
            name_of.setdefault(_key(key), str(name))
    return Hierarchy(tuple(str(n) for n in names), kinds_of, name_of)


def load_hierarchy(path: Path | None = None) -> Hierarchy:
    """The shipped hierarchy (`HIERARCHY_FILE`, read once) or the one at `path`; a damaged file
    is one FeatvisError naming it."""
    return _load(Path(path) if path is not None else HIERARCHY_FILE)


@cache
def _load(path: Path) -> Hierarchy:
    try:
        return _parse(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FeatvisError(
            f"{path}: damaged ImageNet class hierarchy ({reason}); reinstall featvis or run "
            "scripts/make_imagenet_hierarchy.py"
        ) from None


def photo_class(rel: str) -> str | None:
    """A photo's class from its path relative to the folder: the innermost subfolder's name, else
    an ImageNet wnid that starts the file name; None when neither."""
    path = PurePosixPath(rel)
    if len(path.parts) > 1:
        return path.parts[-2]
    found = WNID.match(path.name)
    return found.group(0) if found else None
