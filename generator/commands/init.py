"""`featvis init [DIR]`: a new site folder with a site.toml and the flagship articles.

The articles ship inside the package (the repository's content/, installed as generator/articles),
so an installed featvis can start a site anywhere. Nothing that exists is overwritten: if any file
init would write is already there, it stops before writing anything.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
from pathlib import Path

from generator.commands.common import check_model, model_flag
from generator.config.model_ids import DEFAULT_MODEL, PYTHON, is_file_target, split_python
from generator.config.paths import EXPECTED, check_path, refuse_empty
from generator.config.site import FLAGS_BOTH
from generator.core.errors import FeatvisError
from generator.core.resources import shipped

ARTICLES_DIR = shipped("articles", "content")
SITE_TOML = """\
# featvis site configuration, written by `featvis init`. Paths are relative to this file; every
# key is optional. featvis' docs/commands.md lists them all.
title = "featvis"
model = {model}  # or torchvision:NAME, timm:NAME, python:FILE.py:FUNCTION
{weights}content_dir = "content"       # your articles, in Markdown
output_dir = "site_output"    # the built site; open site_output/index.html
cache_dir = ".featvis-cache"  # computed visualizations, reused by every build
device = {device}               # auto (CUDA when available), cpu, cuda, cuda:N
seed = {seed}
# preset = "standard"         # quick, standard, full; default: full on a GPU, standard on a CPU
# dataset = "photos"          # a folder of your own photos, for dataset examples
# [recipe]                    # how every visualization is optimized (docs/performance.md):
# optimizer = "nadam"         # steps, lr, optimizer, schedule, warmup, final_lr, ...
"""


def articles() -> list[Path]:
    """The shipped articles and the bibliography they cite."""
    return sorted([*ARTICLES_DIR.glob("*.md"), *ARTICLES_DIR.glob("*.bib")])


def from_site(path: str, site: Path) -> str:
    """`path` (as given on the command line: relative to the current folder) as site.toml must
    say it to reach the same file from the `site` folder (relative where it can be)."""
    absolute = Path(path).expanduser().resolve()
    try:
        return Path(os.path.relpath(absolute, site.resolve())).as_posix()
    except ValueError:  # another drive
        return absolute.as_posix()


def site_model(model: str, site: Path) -> str:
    """A `python:FILE.py:FUNCTION` model with FILE made to resolve from `site`; any other id as
    it is (a module path, `python:package.module:FUNCTION`, is found on sys.path)."""
    check_model(model, Path.cwd())
    if not model.startswith(PYTHON.prefix):
        return model
    target, function = split_python(model)
    if not is_file_target(target):
        return model
    return f"{PYTHON.prefix}{from_site(target, site)}:{function}"


def site_toml(
    model: str, weights: str | None = None, site: Path = Path("."), random_weights: bool = False,
    seed: int = 0, device: str = "auto",
) -> str:
    """The site.toml `init` writes into `site`, for `model` (checked) and an optional local
    checkpoint (checked: a file) or random weights, the `seed` and the `device`; file paths
    given relative to the current folder are written relative to `site`."""
    if weights and random_weights:
        raise FeatvisError(FLAGS_BOTH)
    if weights is not None:  # a checkpoint that is not there: nothing written
        refuse_empty("--weights", weights, EXPECTED["weights"])
        check_path("weights", Path(weights).expanduser().resolve(), "--weights")
    if weights:
        line = f"weights = {json.dumps(from_site(weights, site))}  # a local checkpoint\n"
    elif random_weights:
        line = "random_weights = true        # an untrained network, drawn from the seed\n"
    else:
        line = "# weights = \"model.pth\"    # a local checkpoint (default: the family's own)\n"
    return SITE_TOML.format(
        model=json.dumps(site_model(model, site)), weights=line, seed=seed,
        device=json.dumps(device),
    )


def init_site(
    target: Path, model: str, weights: str | None = None, random_weights: bool = False,
    seed: int = 0, device: str = "auto",
) -> list[Path]:
    """Write site.toml (for `model`, with `seed` and `device`) and content/ (articles,
    references.bib) into `target`; returns the files written."""
    toml = site_toml(model, weights, target, random_weights, seed, device)
    plan: dict[Path, str | Path] = {target / "site.toml": toml}
    for article in articles():
        plan[target / "content" / article.name] = article
    there = [path for path in plan if path.exists()]
    if there:
        shown = ", ".join(str(p) for p in there)
        raise FeatvisError(f"{target}: would overwrite {shown}; choose an empty or new folder")
    if target.exists() and not target.is_dir():
        raise FeatvisError(f"{target}: exists and is not a folder")
    try:
        (target / "content").mkdir(parents=True, exist_ok=True)
        for path, source in plan.items():
            if isinstance(source, Path):
                shutil.copyfile(source, path)
            else:
                path.write_text(source, encoding="utf-8")
    except OSError as exc:
        raise FeatvisError(f"{target}: cannot write the site ({exc.strerror or exc})") from None
    return list(plan)


def cmd_init(args: argparse.Namespace) -> int:
    target = Path(args.path)
    model = model_flag(args) or DEFAULT_MODEL
    written = init_site(
        target, model, args.weights, args.random_weights,
        0 if args.seed is None else args.seed, args.device or "auto",
    )
    print(f"featvis: wrote {len(written)} files into {target}/")
    here = target.resolve() == Path.cwd().resolve()
    where = "" if here else f"cd {shlex.quote(str(target))} && "  # pasted into a shell
    print(f"next: {where}featvis build   (then open site_output/index.html)")
    return 0
