# ruff: noqa: E501  (expected messages read best one per line)
"""The atlas in a built site: a page per computed channel whose links all resolve, circuits
measured before rendering, labels on pages and in search, the manifest's channels, and the
`channel` and `circuit` figures (and their one-line errors). One tiny build, shared."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from generator.build import build_site
from generator.check import check_site
from generator.config.presets import Preset
from generator.config.site import load_config
from generator.core.errors import FeatvisError

TINY = Preset("tiny", size=32, steps=4, explorer_channels=2, figure_scale=1.0)
MODEL = "efficientnet_lite0"
ARTICLE = """\
---
title: Circuits
---

A card:

```figure
type: channel
layer: blocks.1.0
channel: 1
```

The first layer's channel has no inputs to show:

```figure
type: channel
layer: conv_stem
channel: 0
```

And its inputs:

```figure
type: circuit
layer: blocks.1.0
channel: 5
inputs: 3
```
"""
LABELS = '"blocks.1.0:0" = "stripe finder"\n"blocks.1.0:20" = "never computed"\n'


def photos(folder: Path) -> Path:
    """Six small photos of stripes and blobs: something for edge channels to find."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(6):
        image = Image.new("RGB", (80, 64), (20 * i, 120, 255 - 30 * i))
        draw = ImageDraw.Draw(image)
        for k in range(0, 80, 6 + 2 * i):
            draw.line([(k, 0), (k + 10 * (i % 3), 63)], fill=(255, 255 - 40 * i, 0), width=2)
        draw.ellipse([10 + 5 * i, 10, 40 + 5 * i, 40], fill=(200, 30 * i, 90))
        image.save(folder / f"photo{i}.png")
    return folder


def make(root: Path, cache: Path, article: str = ARTICLE, dataset: Path | None = None) -> Path:
    (root / "content").mkdir(parents=True, exist_ok=True)
    (root / "content" / "circuits.md").write_text(article, encoding="utf-8")
    (root / "labels.toml").write_text(LABELS, encoding="utf-8")
    (root / "site.toml").write_text(
        f'explorer_layers = ["conv_stem", "blocks.1.0", "blocks.2.1"]\ncache_dir = "{cache}"\ndevice = "cpu"\n'
        + (f'dataset = "{dataset}"\n' if dataset else ""),
        encoding="utf-8",
    )
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.getbasetemp() / "featvis-cache"
    base = tmp_path_factory.mktemp("atlas-site")
    root = make(base / "site", cache, dataset=photos(base / "photos"))
    build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    return root / "site_output"


def test_a_page_per_computed_channel_and_every_link_resolves(built: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    channels = manifest["channels"]
    layers = {c["layer"] for c in channels}
    assert layers == {"conv_stem", "blocks.1.0", "blocks.2.1"} and len(channels) >= 6
    for c in channels:
        assert c["page"] == f"explorer/{MODEL}/{c['layer']}/{c['channel']}.html"
        assert (built / c["page"]).is_file()
    assert check_site(built) == [], "every link and image on every page resolves"
    layer_page = (built / "explorer" / MODEL / "blocks.1.0.html").read_text(encoding="utf-8")
    for c in channels:
        if c["layer"] == "blocks.1.0":
            assert f'href="blocks.1.0/{c["channel"]}.html"' in layer_page
    page = (built / "explorer" / MODEL / "blocks.1.0" / "0.html").read_text(encoding="utf-8")
    assert 'href="../blocks.1.0.html"' in page and 'href="1.html" rel="next"' in page
    assert f'href="../../../explorer/{MODEL}/index.html"' in page
    assert "negative" in page and "fv-search-input" in page


def test_circuits_are_measured_and_shown(built: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    by_unit = {(c["layer"], c["channel"]): c for c in manifest["channels"]}
    circuit = by_unit[("blocks.1.0", 0)]["circuit"]
    assert circuit["method"] == "attribution" and circuit["inputs_layer"] == "conv_stem"
    weights = [link["weight"] for link in circuit["positive"]]
    assert weights and weights == sorted(weights, reverse=True) and weights[0] > 0
    assert all(link["weight"] < 0 for link in circuit["negative"])
    stem = by_unit[("conv_stem", 0)]["circuit"]
    assert stem["inputs_layer"] is None and stem["outputs_layer"] == "blocks.1.0"
    # only the rows of the channels with pages or figures were measured: 2 pages + channel 5
    assert stem["outputs_among"] == 3 and circuit["outputs_among"] == 2
    assert {link["channel"] for link in stem["outputs"] + stem["outputs_negative"]} <= {0, 1, 5}
    page = (built / "explorer" / MODEL / "blocks.1.0" / "0.html").read_text(encoding="utf-8")
    top = circuit["positive"][0]
    assert f"conv_stem:{top['channel']}" in page and "attribution: the gradient" in page


def test_a_residual_blocks_inputs(built: Path) -> None:
    """blocks.2.1 adds its input, blocks.2.0's output, which the explorer does not show: the
    block's inputs are named and measured; blocks.1.0 (no skip) has none."""
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    by_unit = {(c["layer"], c["channel"]): c for c in manifest["channels"]}
    block = by_unit[("blocks.2.1", 0)]["circuit"]["block_inputs"]
    assert block["residual"] and block["measured"]
    assert [(p["layer"], p["start"], p["channels"]) for p in block["parts"]] == [("blocks.2.0", 0, 40)]
    weights = [link["weight"] for link in block["positive"]]
    assert weights and weights == sorted(weights, reverse=True)
    assert all(link["layer"] == "blocks.2.0" for link in block["positive"] + block["negative"])
    assert by_unit[("blocks.1.0", 0)]["circuit"]["block_inputs"] is None
    page = (built / "explorer" / MODEL / "blocks.2.1" / "0.html").read_text(encoding="utf-8")
    assert "residual block" in page and f"blocks.2.0:{block['positive'][0]['channel']}" in page


def test_photos_their_distribution_and_accentuation(built: Path) -> None:
    page = (built / "explorer" / MODEL / "blocks.1.0" / "0.html").read_text(encoding="utf-8")
    assert "Activation over the photos" in page and page.count("<rect ") >= 1
    assert "Accentuated photos" in page
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    entry = next(c for c in manifest["channels"] if (c["layer"], c["channel"]) == ("blocks.1.0", 0))
    accents = entry["accentuation"]
    assert len(accents) == 3, "the top three photos"
    for a in accents:
        assert (built / a["photo"]).is_file() and (built / a["image"]).is_file()
        assert a["image_activation"] > a["photo_activation"], "accentuation raises the channel"
        assert -1 <= a["agreement"] <= 1


def test_labels_on_pages_and_in_search(built: Path) -> None:
    page = (built / "explorer" / MODEL / "blocks.1.0" / "0.html").read_text(encoding="utf-8")
    layer_page = (built / "explorer" / MODEL / "blocks.1.0.html").read_text(encoding="utf-8")
    assert "stripe finder" in page and "stripe finder" in layer_page
    script = (built / "explorer" / "search-index.js").read_text(encoding="utf-8")
    data = json.loads(script.split("=", 1)[1].strip().rstrip(";"))
    rows = {(data["layers"][r[0]][1], r[1]): r for r in data["channels"]}
    assert rows[("blocks.1.0", 20)][5] == ["never computed"] and rows[("blocks.1.0", 20)][6] == 0
    assert rows[("blocks.1.0", 0)][6] == 1 and rows[("blocks.1.0", 0)][3].endswith("blocks.1.0/0.html")
    labelled = {(c["layer"], c["channel"]): c["labels"] for c in json.loads((built / "manifest.json").read_text())["channels"]}
    assert labelled[("blocks.1.0", 0)] == ["stripe finder"]


def test_channel_and_circuit_figures(built: Path) -> None:
    html = (built / "circuits.html").read_text(encoding="utf-8")
    card = re.search(r'<figure class="fv-figure fv-channel.*?</figure>', html, re.S).group(0)  # type: ignore[union-attr]
    assert 'href="explorer/efficientnet_lite0/blocks.1.0/1.html"' in card and "driven by (attribution)" in card
    assert "No inputs" not in card and "No top photos" not in card
    assert 'class="untrained"' not in html, "a trained network's articles carry no untrained note"
    first = re.findall(r'<figure class="fv-figure fv-channel.*?</figure>', html, re.S)[1]
    assert "driven by" not in first and "No inputs: no circuit was measured for <code>conv_stem:0</code>" in first
    graph = re.search(r'<figure class="fv-figure fv-circuit.*?</figure>', html, re.S).group(0)  # type: ignore[union-attr]
    widths = [float(w) for w in re.findall(r'stroke-width="([0-9.]+)"', graph)]
    assert len(widths) == 3 and max(widths) == 10.0, "three inputs, the strongest the widest edge"
    # an input with no visualization is drawn as its top photo, and each figure says so
    photo_nodes = re.findall(r'<g class="node photo"', graph)
    assert photo_nodes and "A channel without a visualization shows its top photo." in graph
    nodes = re.findall(r'<span class="circuit-node (?:pos|neg)">(.*?)</span> ', card, re.S)
    assert any("images/dataset/" in n for n in nodes), "the fixture draws an input as its photo"
    assert all(("images/dataset/" in n) == ("(top photo)" in n) for n in nodes), nodes
    assert graph.count("<image ") >= 1 and "conv_stem" in graph


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("type: channel\nlayer: blocks.1.9\nchannel: 1", r"circuits\.md:\d+: figure 'channel': unknown layer 'blocks\.1\.9' \(did you mean"),
        ("type: circuit\nlayer: blocks.1.0\nchannel: 999", r"circuits\.md:\d+: figure 'circuit': channel 999 out of range for layer 'blocks\.1\.0' \(valid: 0\.\.\d+\)"),
    ],
)
def test_figures_name_bad_units_in_one_line(tmp_path: Path, block: str, expected: str) -> None:
    root = make(tmp_path, tmp_path / "cache", f"---\ntitle: Bad\n---\n\n```figure\n{block}\n```\n")
    with pytest.raises(FeatvisError, match=expected) as info:
        build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    assert "\n" not in str(info.value)
    assert not (root / "site_output").exists()


def test_a_bad_label_stops_the_build(tmp_path: Path) -> None:
    root = make(tmp_path, tmp_path / "cache")
    (root / "labels.toml").write_text('"blocks.1.0:0" = "a"\n"blocks.1.0:999" = "b"\n', encoding="utf-8")
    with pytest.raises(FeatvisError, match=r"labels\.toml:2: channel 999 out of range for layer 'blocks\.1\.0' \(valid: 0\.\.\d+\)"):
        build_site(load_config(root / "site.toml"), preset=TINY, quiet=True)
    assert not (root / "site_output").exists()


def test_a_channel_page_without_its_negative_names_only_what_it_lacks() -> None:
    """A channel a figure chose on a site with photos may still have its two-alternative score
    and accentuated photos (the measure stage scores every channel with a page): the note on
    what is not computed names only what the page lacks, never a score it shows below."""
    from types import SimpleNamespace

    from generator.config.site import SiteConfig
    from generator.site.env import make_env

    env = make_env(SiteConfig(root=Path(".")))
    macro = env.from_string(
        '{% import "macros.html" as m %}{{ m.unmade(unmade, True, accented, legibility, p) }}'
    )
    preset = SimpleNamespace(explorer_channels=2, name="quick")

    def note(accented: list[str], legibility: object) -> str:
        html = macro.render(unmade=["negative"], accented=accented, legibility=legibility, p=preset)
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()

    scored = note([], SimpleNamespace(pictures=1.0))
    assert scored.startswith("Its negative is not computed, nor its accentuated photos:"), scored
    assert "two-alternative" not in scored
    assert "nor" not in note(["a.png"], SimpleNamespace(pictures=1.0))
    assert ", nor its accentuated photos and two-alternative score:" in note([], None)


def test_a_circuit_side_without_channels_says_none_not_a_numbered_none() -> None:
    """A channel that inhibits none of the next layer's channels with pages shows "none" under
    Inhibits as a sentence, not as item 1 of a numbered list ("1. none")."""
    from generator.config.site import SiteConfig
    from generator.site.env import make_env

    env = make_env(SiteConfig(root=Path(".")))
    macro = env.from_string('{% import "macros.html" as m %}{{ m.circuit_links(items) }}')
    empty = macro.render(items=[])
    assert "<li" not in empty and "<ol" not in empty and ">none</p>" in empty, empty
    one = macro.render(items=[{
        "href": "a/3.html", "thumb": None, "layer": "a", "channel": 3, "weight": 0.5,
        "label": None, "photo": False,
    }])
    assert one.count("<li>") == 1 and "none" not in one and "<code>a:3</code>" in one, one
