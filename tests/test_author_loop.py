"""Progress that reads in a log, and strict builds.

A build whose progress goes to a file (not a terminal) prints one line per stage and counter lines
with done/total, rate and time left; `quiet` prints none. A strict build (the config's `strict`:
`strict = true` in site.toml, `featvis build --strict`) fails on any warning (a figure drawn
without what it needs, photos that cannot be read, a flagged pattern agreement) and publishes
nothing.
"""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest

from generator.build import build_site
from generator.config.presets import Preset
from generator.config.site import load_config
from generator.core.errors import FeatvisError
from generator.core.notices import Notices, StrictFailure
from generator.core.progress import Counter, Progress

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "datasets" / "imagenet-sample"
TINY = Preset("tiny", size=32, steps=4, explorer_channels=1, figure_scale=1.0)
ARTICLE = """\
---
title: Photos
description: A figure that needs photos.
---

Some text.

```figure
type: dataset-examples
layer: conv_stem
channels: [1]
```
"""


def _site(root: Path, cache: Path, extra: str = "") -> Path:
    (root / "content").mkdir(parents=True)
    (root / "content" / "photos.md").write_text(ARTICLE, encoding="utf-8")
    (root / "site.toml").write_text(
        f'explorer_layers = ["conv_stem"]\ncache_dir = "{cache}"\ndevice = "cpu"\n{extra}',
        encoding="utf-8",
    )
    return root / "site.toml"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "featvis-cache"  # shared with the other site tests


def test_a_build_logging_to_a_file_prints_stage_lines(tmp_path: Path, cache: Path) -> None:
    config = load_config(_site(tmp_path / "site", cache))
    log = tmp_path / "build.log"
    with log.open("w", encoding="utf-8") as stream:
        build_site(config, preset=TINY, progress=Progress(stream=stream), log=lambda m: None,
                   force=True)
    lines = log.read_text(encoding="utf-8").splitlines()
    stages = [line.split(":")[1].strip() for line in lines if line.startswith("featvis: stage ")]
    assert stages == ["stage planning", "stage compute", "stage measure", "stage render",
                      "stage check", "stage publish"]
    # besides its stages, a log holds counters ("circuits: 1/1 (100%), ..."), no line per item
    others = [line for line in lines if not line.startswith("featvis: stage ")]
    counter = re.compile(r"featvis: [\w ()]+: \d+/\d+ \(\d+%\)")
    assert others and all(counter.match(line) for line in others), others
    counted = [line for line in lines if line.startswith("featvis: compute: ")]
    assert counted, "computing prints its progress"
    assert counted[-1].startswith("featvis: compute: ") and "/s" in counted[-1]
    done, total = counted[-1].split(": ")[2].split(" ")[0].split("/")
    assert done == total and int(total) >= 2

    quiet = io.StringIO()
    build_site(config, preset=TINY, progress=Progress(quiet=True, stream=quiet), quiet=True)
    assert quiet.getvalue() == ""


def test_counter_lines_every_tenth_or_thirty_seconds() -> None:
    now = [0.0]
    lines: list[str] = []
    counter = Counter(100, "compute", "visualizations", write=lines.append, bar=None,
                      clock=lambda: now[0])
    for _ in range(25):
        now[0] += 1.0
        counter.update()
    assert len(lines) == 2, "one line per 10 %"
    assert lines[-1] == "compute: 20/100 (20%), 1.00 visualizations/s, about 1 min 20 s left"
    slow = Counter(1000, "compute", "visualizations", write=lines.append, bar=None,
                   clock=lambda: now[0])
    lines.clear()
    for _ in range(3):
        now[0] += 20.0
        slow.update()
    assert len(lines) == 1 and lines[0].startswith("compute: 2/1000 (0%), 0.05 visualizations/s")


def test_notices_fail_a_strict_build_in_one_line() -> None:
    notices = Notices(strict=True)
    for i in range(7):
        notices.warn("fallback", f"content/a.md:{i}: figure drawn without photos")
    notices.warn("fallback", "content/a.md:0: figure drawn without photos")
    assert len(notices) == 7, "the same warning counts once"
    with pytest.raises(StrictFailure) as failure:
        notices.check_strict("site_output")
    message = str(failure.value)
    assert "\n" not in message and message.startswith("strict build: 7 warnings")
    assert "and 2 more" in message and message.endswith("site_output unchanged")
    Notices(strict=False, items=list(notices.items)).check_strict("x")  # not strict: no failure
    with pytest.raises(ValueError):
        notices.warn("nonsense", "no such kind")


def test_a_note_is_printed_as_one_and_fails_no_strict_build() -> None:
    """Photo folders named as their author likes (`dogs/`, not an ImageNet class) are no
    mistake: the search's note says so as a note, and a strict build passes; beside a warning,
    only the warning is counted."""
    lines: list[str] = []
    notices = Notices(strict=True, report=lines.append)
    notices.warn("classes", "2 class names are not in the ImageNet hierarchy (dogs, food)")
    notices.check_strict("site_output")
    assert lines == ["note: 2 class names are not in the ImageNet hierarchy (dogs, food)"]
    notices.warn("fallback", "content/a.md:3: figure drawn without photos")
    with pytest.raises(StrictFailure) as failure:
        notices.check_strict("site_output")
    assert str(failure.value).startswith("strict build: 1 warning (content/a.md:3")


def test_strict_failure_publishes_nothing(tmp_path: Path, cache: Path) -> None:
    toml = _site(tmp_path / "site", cache)
    out = tmp_path / "site" / "site_output"
    warned: list[str] = []
    build_site(load_config(toml), preset=TINY, log=warned.append)
    assert any("drawn without what it needs" in w and "photos.md:8" in w for w in warned)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (tmp_path / "site" / "content" / "photos.md").write_text(
        ARTICLE.replace("Some text.", "Changed text."), encoding="utf-8"
    )
    with pytest.raises(StrictFailure, match="strict build: 1 warning .*photos.md:8"):
        build_site(load_config(toml).with_overrides(strict=True), preset=TINY, quiet=True)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before, "the published site is untouched"
    shutil.rmtree(out)
    toml.write_text(toml.read_text(encoding="utf-8") + "strict = true\n", encoding="utf-8")
    with pytest.raises(StrictFailure):
        build_site(load_config(toml), preset=TINY, quiet=True)
    assert not out.exists(), "nothing published"
    toml.write_text(toml.read_text(encoding="utf-8").replace("true", '"yes"'), encoding="utf-8")
    with pytest.raises(FeatvisError, match="must be true or false"):
        load_config(toml)


CIRCUIT = """\
---
title: Circuit
---

```figure
type: circuit
layer: blocks.1.0
channel: 2
```

```figure
type: channel
layer: blocks.1.0
channel: 2
```
"""


def test_a_circuit_off_the_explorer_is_a_warning(tmp_path: Path, cache: Path) -> None:
    """Circuits are measured for explorer layers after the first: a circuit or channel figure on
    another layer is drawn without one, which the build says (and a strict build refuses)."""
    toml = _site(tmp_path / "site", cache)
    (tmp_path / "site" / "content" / "circuit.md").write_text(CIRCUIT, encoding="utf-8")
    warned: list[str] = []
    build_site(load_config(toml), preset=TINY, log=warned.append)
    lacking = [w for w in warned if "circuit.md:" in w and "drawn without what it needs" in w]
    assert len(lacking) == 2, warned
    circuit, channel = lacking
    assert "circuit.md:5: figure 'figure-1'" in circuit
    assert circuit.endswith("(no circuit measured for its layer)")
    assert "circuit.md:11: figure 'figure-2'" in channel
    assert channel.endswith("(no circuit measured for its layer; no dataset)")


def test_unreadable_photos_fail_a_strict_build(tmp_path: Path, cache: Path) -> None:
    if not SAMPLE.is_dir():
        pytest.skip(f"{SAMPLE} is absent: the ImageNet sample ships beside the repo, not in it")
    photos = tmp_path / "photos"
    photos.mkdir()
    for photo in sorted(SAMPLE.glob("*.jpg"))[:3]:
        shutil.copy(photo, photos / photo.name)
    (photos / "broken.jpg").write_bytes(b"not a photo")
    toml = _site(tmp_path / "site", cache, f'dataset = "{photos}"\n')
    with pytest.raises(StrictFailure, match=r"1 photo could not be read \(first: broken.jpg"):
        build_site(load_config(toml).with_overrides(strict=True), preset=TINY, quiet=True)
    assert not (tmp_path / "site" / "site_output").exists()
