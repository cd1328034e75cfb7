"""Write generator/atlas/imagenet_hierarchy.json: each ImageNet-1k class with its WordNet 3.0
hypernym chain, which the offline search uses so that `dog` finds every dog breed.

ImageNet wnids are WordNet 3.0 noun offsets (`n` + the 8-digit offset in `data.noun`). The inputs
come from package registries only:

- the WordNet 3.0 database: Debian's `wordnet-base` package (/usr/share/wordnet/data.noun). Without
  root: `apt-get download wordnet-base && dpkg -x wordnet-base_*.deb wn` gives it under
  `wn/usr/share/wordnet`;
- the 1000 wnids in class-index order: timm's `timm/data/_info/imagenet_synsets.txt` (PyPI timm);
- the class names the site shows: torchvision's ImageNet categories (PyPI torchvision), in the
  same order.

Regenerate with

    python3 scripts/make_imagenet_hierarchy.py --wordnet wn/usr/share/wordnet

The file lists WordNet nodes once: `nodes[i] = [wnid, "lemma, lemma", [hypernym node, ...]]`;
the first 1000 nodes are the classes in class-index order and `names[i]` is class i's name as
the site shows it. Every other node is an ancestor of a class (hypernyms and instance hypernyms).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "generator" / "atlas" / "imagenet_hierarchy.json"


def read_nouns(data_noun: Path) -> dict[str, tuple[list[str], list[str]]]:
    """wnid -> (lemmas, hypernym wnids) of every noun synset in WordNet's data.noun."""
    nouns: dict[str, tuple[list[str], list[str]]] = {}
    for line in data_noun.read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):
            continue  # the licence header
        fields = line.split(" | ")[0].split()
        offset, count = fields[0], int(fields[3], 16)
        lemmas = [fields[4 + 2 * k].replace("_", " ") for k in range(count)]
        lemmas = [lemma.split("(")[0] for lemma in lemmas]  # "long(a)" adjective markers
        rest = fields[4 + 2 * count:]
        pointers = int(rest[0])
        parents = []
        for k in range(pointers):
            symbol, target, pos = rest[1 + 4 * k: 4 + 4 * k]
            if symbol in ("@", "@i") and pos == "n":
                parents.append("n" + target)
        nouns["n" + offset] = (lemmas, parents)
    return nouns


def hierarchy(nouns: dict[str, tuple[list[str], list[str]]], wnids: list[str],
              names: list[str]) -> dict[str, object]:
    order = list(wnids)
    position = {wnid: i for i, wnid in enumerate(order)}
    k = 0
    while k < len(order):  # breadth first over the ancestors, each once
        for parent in nouns[order[k]][1]:
            if parent not in position:
                position[parent] = len(order)
                order.append(parent)
        k += 1
    return {
        "version": 1,
        "source": "WordNet 3.0 (Debian wordnet-base); wnids: timm; names: torchvision",
        "names": names,
        "nodes": [
            [wnid, ", ".join(nouns[wnid][0]), [position[p] for p in nouns[wnid][1]]]
            for wnid in order
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"),
                        help="the folder of WordNet 3.0's data.noun")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    import timm
    from torchvision.models import ResNet50_Weights

    synsets = Path(timm.__file__).parent / "data" / "_info" / "imagenet_synsets.txt"
    wnids = synsets.read_text().split()
    names = list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
    assert len(wnids) == len(names) == 1000, (len(wnids), len(names))
    data = hierarchy(read_nouns(args.wordnet / "data.noun"), wnids, names)
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(f"{args.out}: {len(data['nodes'])} nodes, {len(text)} bytes")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
