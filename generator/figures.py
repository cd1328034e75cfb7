"""Figure types: one class per ```figure block type: the jobs it needs and how it draws.

A `Figure` is made from a `FigureSpec` (`figure_for`): its options are checked at once (unknown key,
wrong type, bad value -> `FeatvisError` at the key's line with the valid choices). `bind(model)`
checks layers and channels against the model. `jobs(ctx)` lists the `VisJob`s it needs and
`render(ctx)` draws it through `templates/figures/<type>.html`.

Channels may be written out (`channels: [3, 17]`) or left to the build (`channels: 4`): the build
then picks the strongest, most distinct channels of the layer from measurements, the dataset's
statistics when a dataset is configured, otherwise a survey of standard visualizations in the
artifact cache (`FigureContext.choose_channels`). While a survey is missing, `jobs` asks for the
survey; the build computes it and plans again (plan -> compute -> plan), so choices settle in two
rounds. `numbers(ctx)` gives the measured values an article quotes as `{{ numbers.ID.KEY }}`;
`number_keys()` names them before anything is computed, so a typo fails while reading.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from markupsafe import Markup
from PIL import Image

from generator import metrics
from generator.config import Preset, SiteConfig
from generator.content import FigureSpec
from generator.dataset import PatternCheck, check_patterns, load_view
from generator.errors import FeatvisError, choices_hint
from generator.jobs import VisJob
from generator.models.base import LoadedModel
from generator.optvis import objectives as obj
from generator.optvis.objectives import Objective
from generator.optvis.param import ParamSpec
from generator.optvis.transforms import DISTILL_SCALES, TransformSpec

COMMON_OPTIONS = ("id", "caption", "title", "layout")
LAYOUTS = ("text", "page", "screen")
SURVEY_MIN = 8  # channels surveyed per layer to choose from, at the least
_TOP_CLASS: dict[tuple[str, str], int] = {}  # (weights digest, artifact key) -> class


class MissingArtifact(Exception):
    """A job this figure needs is not in the cache (render from the cache only)."""

    def __init__(self, jobs: Sequence[VisJob]) -> None:
        super().__init__(f"{len(jobs)} visualizations missing")
        self.jobs = list(jobs)


# Option parsing ----------------------------------------------------------------------------


class _Bad(ValueError):
    """An option value that does not fit; the message says what would."""


def _int(v: Any, lo: int = 0, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise _Bad(f"must be a whole number {rng}, not {v!r}")
    return v


def _float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _Bad(f"must be a number, not {v!r}")
    return float(v)


def _floats(v: Any) -> tuple[float, ...]:
    if not isinstance(v, list) or not v:
        raise _Bad(f"must be a list of numbers, not {v!r}")
    return tuple(_float(x) for x in v)


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise _Bad(f"must be text, not {v!r}")
    return v


_OUTSIDE = re.compile(r"(?:\b[A-Za-z][A-Za-z0-9+.-]*:|\(\s*)//|\b(?:javascript|data):(?=\S)", re.I)


def _text(v: Any) -> str:
    """Caption or title text (Markdown): links must stay inside the site, which reads offline."""
    text = _str(v)
    if _OUTSIDE.search(text):
        raise _Bad("links outside the site; the site reads offline, so write the reference as text")
    return text


def _choice(*valid: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in valid:
            raise _Bad(f"'{v}' is not known (valid: {', '.join(valid)})")
        return str(v)

    return check


def _layers(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        return (v,)
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise _Bad(f"must be a layer name or a list of layer names, not {v!r}")
    return tuple(v)


def _channels(v: Any) -> int | tuple[int, ...]:
    """`channels: 4` (the build chooses 4) or `channels: [3, 17]` (these)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return _int(v, 1, 64)
    if isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return tuple(_int(x) for x in v)
    raise _Bad(
        f"must be a count the build chooses (e.g. 4) or a list of channel numbers, not {v!r}"
    )


def _unit(v: Any) -> tuple[str, int]:
    if isinstance(v, str) and ":" in v and v.rpartition(":")[2].isdigit():
        layer, _, ch = v.rpartition(":")
        return layer, int(ch)
    raise _Bad(f"units are written LAYER:CHANNEL, e.g. blocks.4.0:12, not {v!r}")


def _pairs(v: Any) -> int | tuple[tuple[tuple[str, int], tuple[str, int]], ...]:
    if isinstance(v, int) and not isinstance(v, bool):
        return _int(v, 1, 16)
    if isinstance(v, list) and v and all(isinstance(p, list) and len(p) == 2 for p in v):
        return tuple((_unit(a), _unit(b)) for a, b in v)
    raise _Bad(f"must be a count (e.g. 3) or a list of [LAYER:CH, LAYER:CH] pairs, not {v!r}")


def _class(v: Any) -> str | int:
    if isinstance(v, (str, int)) and not isinstance(v, bool):
        return v
    raise _Bad(f"must be a class name or index (or 'auto'), not {v!r}")


@dataclass(frozen=True)
class Option:
    parse: Callable[[Any], Any]
    default: Any = None
    required: bool = False


# The context -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageView:
    """One image as a template shows it: a URL and the numbers measured on it."""

    url: str
    alt: str
    label: str = ""
    objective: float | None = None
    high_freq: float | None = None
    relative: float | None = None
    key: str = ""


@dataclass
class FigureContext:
    """What figures read while planning (config, model, preset, cache, dataset) and drawing.

    `explorer` holds the plan's explorer jobs by layer (their artifacts join the survey a figure
    chooses channels from). The drawing side is set by the site renderer: `env` (Jinja2),
    `image_url(path)` to place an artifact's image in the site and `place_photo(key, pil)` a
    dataset photo, and `prefix` (the way back to the site root from the page being drawn).
    """

    config: SiteConfig
    model: LoadedModel
    preset: Preset
    store: Any = None  # generator.artifacts.ArtifactStore
    dataset: Any = None  # generator.dataset.DatasetIndex
    explorer: Mapping[str, Sequence[VisJob]] = field(default_factory=dict)
    env: Any = None
    image_url: Callable[[Path], str] | None = None
    place_photo: Callable[[str, Image.Image], str] | None = None
    prefix: str = ""
    explorer_channels: dict[str, set[int]] = field(default_factory=dict)  # what layer pages show
    _artifacts: dict[str, Any] = field(default_factory=dict, repr=False)
    _choices: dict[tuple[str, int], list[int] | None] = field(default_factory=dict, repr=False)
    # the model's top class for each top photo it has read: path -> (class, probability)
    photo_readings: dict[str, tuple[int, float]] = field(default_factory=dict, repr=False)
    # pattern checks and class readings by (kind, job key, layer, channel): the explorer, the
    # figures and the manifest ask for the same ones
    checks: dict[tuple[str, str, str, int], Any] = field(default_factory=dict, repr=False)

    # Jobs ----------------------------------------------------------------------------------
    @classmethod
    def of(cls, ctx: Any) -> FigureContext:
        """A FigureContext from any context with config, model, preset, store and dataset (the
        planner's `PlanContext`); the explorer's jobs join the surveys figures choose from."""
        if isinstance(ctx, FigureContext):
            return ctx
        from generator.plan import explorer_jobs  # the planner owns the explorer's jobs

        made = cls(
            config=ctx.config,
            model=ctx.model,
            preset=ctx.preset,
            store=ctx.store,
            dataset=getattr(ctx, "dataset", None),
        )
        made.explorer = explorer_jobs(ctx.config, ctx.model, ctx.preset, made.channel_job)
        return made

    def job(self, objectives: Sequence[Objective], **changes: Any) -> VisJob:
        """A job at the preset's size and steps and the site's seed; every other field is
        `VisJob`'s default (Fourier + decorrelated, the Distill transforms) unless changed. The
        planner's explorer jobs are made the same way, so equal specs share one artifact."""
        spec: dict[str, Any] = {
            "model": self.model.id,
            "weights_digest": self.model.weights_digest,
            "objectives": tuple(objectives),
            "steps": self.preset.steps,
            "size": self.preset.size,
            "seed": self.config.seed,
        }
        spec.update(changes)
        return VisJob(**spec)

    def channel_job(self, layer: str, channel: int) -> VisJob:
        """The standard visualization of one channel (the explorer's, the gallery's)."""
        return self.job([obj.channel(layer, channel)])

    def scaled(self, n: int) -> int:
        """`n` items scaled by the preset's figure_scale, at least one."""
        return max(1, round(n * self.preset.figure_scale))

    # Artifacts -----------------------------------------------------------------------------
    def artifact(self, job: VisJob) -> Any:
        if job.key not in self._artifacts:
            self._artifacts[job.key] = self.store.get(job) if self.store is not None else None
        return self._artifacts[job.key]

    def forget_missing(self) -> None:
        """Look again for the artifacts found missing (they may have been computed since)."""
        self._artifacts = {k: a for k, a in self._artifacts.items() if a is not None}
        self._choices = {k: c for k, c in self._choices.items() if c is not None}

    def require(self, jobs: Sequence[VisJob]) -> list[Any]:
        found = [self.artifact(j) for j in jobs]
        missing = [j for j, a in zip(jobs, found, strict=True) if a is None]
        if missing:
            raise MissingArtifact(missing)
        return found

    # Choosing channels from measurements ---------------------------------------------------
    def survey_jobs(self, layer: str, n: int) -> list[VisJob]:
        """Standard visualizations of a spread of channels (plus the explorer's) to choose from."""
        channels = self.model.layer(layer).channels
        count = min(channels, max(2 * n, SURVEY_MIN))
        spread = sorted({round(i * channels / count) for i in range(count)})
        jobs = [self.channel_job(layer, c) for c in spread]
        known = {j.key for j in jobs}
        for job in self.explorer.get(layer, ()):
            unit = single_channel(job)
            if unit and unit[0] == layer and job.key not in known:
                jobs.append(job)
        return jobs

    def choose_channels(self, layer: str, n: int, exclude: Sequence[int] = ()) -> list[int] | None:
        """The `n` strongest, most distinct channels of `layer`; None while the survey is "
        "missing."""
        key = (layer, n)
        if key not in self._choices:
            self._choices[key] = self._choose(layer, n)
        chosen = self._choices[key]
        if chosen is None:
            return None
        return [c for c in chosen if c not in exclude][:n]

    def _choose(self, layer: str, n: int) -> list[int] | None:
        n = min(n, self.model.layer(layer).channels)
        if self.dataset is not None and layer in getattr(self.dataset, "layer_names", ()):
            return self._choose_from_dataset(layer, n)
        jobs = self.survey_jobs(layer, n)
        found = [self.artifact(j) for j in jobs]
        if any(a is None for a in found):
            return None
        scores: dict[int, float] = {}
        vectors: dict[int, torch.Tensor] = {}
        for job, art in zip(jobs, found, strict=True):
            channel = single_channel(job)[1]  # type: ignore[index]
            scores[channel] = float(art.meta["final"][0] or 0.0)
            vectors[channel] = _image_vector(art.images[0])
        return pick_distinct(scores, lambda a, b: float(vectors[a] @ vectors[b]), n)

    def _choose_from_dataset(self, layer: str, n: int) -> list[int]:
        ds = self.dataset
        channels = self.model.layer(layer).channels
        strongest = getattr(ds, "strongest_mean", ds.max_activation)
        scores = {c: strongest(layer, c) for c in range(channels)}
        patterns = {
            c: torch.nn.functional.normalize(ds.pattern(layer, c).double(), dim=0)
            for c in range(channels)
        }
        return pick_distinct(scores, lambda a, b: float(patterns[a] @ patterns[b]), n)

    def top_class(self, job: VisJob) -> int | None:
        """The class the job's first image drives hardest (None while it is missing)."""
        art = self.artifact(job)
        if art is None:
            return None
        memo = (self.model.weights_digest, art.key)
        if memo not in _TOP_CLASS:  # a pure function of the two: computed once per process
            image = _load_tensor(art.images[0]).to(self.model.device)
            size = self.model.input_size
            x = torch.nn.functional.interpolate(
                image[None], size=(size, size), mode="bilinear", align_corners=False
            )
            with torch.no_grad():
                logits = self.model.net(self.model.preprocess(x))
            _TOP_CLASS[memo] = int(logits[0].argmax())
        return _TOP_CLASS[memo]

    # Drawing -------------------------------------------------------------------------------
    def view(
        self, job: VisJob, index: int = 0, *, label: str = "", snapshot: int | None = None
    ) -> ImageView:
        """An image of a job as the template shows it, with its numbers."""
        art = self.require([job])[0]
        path = art.snapshots[snapshot][index] if snapshot is not None else art.images[index]
        if snapshot is None:
            objective = art.meta["final"][index]
            hf = art.meta["metrics"]["high_freq_share"][index]
        else:
            history = art.meta["history"][index]
            objective = history[min(snapshot, len(history)) - 1] if snapshot > 0 else None
            hf = float(metrics.high_freq_share(_load_tensor(path))[0])
        relative = None
        unit = single_channel(job)
        if unit and self.dataset is not None and snapshot is None and objective is not None:
            strongest = getattr(self.dataset, "strongest_mean", self.dataset.max_activation)
            try:
                relative = metrics.relative_activation(objective, strongest(*unit))
            except FeatvisError:
                relative = None  # the layer was not scanned
        assert self.image_url is not None, "drawing needs the site renderer's image_url"
        alt = f"{job.objectives[index].describe()}" + (
            f" after {snapshot} steps" if snapshot is not None else ""
        )
        return ImageView(self.image_url(path), alt, label, objective, hf, relative, job.key)

    def url(self, path: str) -> str:
        return self.prefix + path

    def layer_link(self, layer: str, channel: int | None = None) -> str:
        """The explorer page of `layer`, at the channel's anchor when the page shows it."""
        shown = self.explorer_channels.get(layer, set())
        return self.prefix + layer_url(layer, channel if channel in shown else None)


def scaled_transforms(size: int, strength: float = 1.0) -> TransformSpec:
    """The Distill transforms (pad 16, jitter 16, jitter 8 at 128 px), scaled to `size`."""
    k = size / 128 * strength
    angle = max(0, round(5 * strength))
    return TransformSpec(
        pad=round(16 * k),
        jitter=round(16 * k),
        scales=DISTILL_SCALES,
        angles=tuple(float(a) for a in range(-angle, angle + 1)),
        jitter2=round(8 * k),
    )


def explorer_by_layer(jobs: Sequence[VisJob]) -> dict[str, list[VisJob]]:
    """Single-channel jobs grouped by layer, in channel order."""
    out: dict[str, list[VisJob]] = {}
    for job in jobs:
        unit = single_channel(job)
        if unit:
            out.setdefault(unit[0], []).append(job)
    for layer in out:
        out[layer].sort(key=lambda j: single_channel(j)[1])  # type: ignore[index]
    return out


def single_channel(job: VisJob) -> tuple[str, int] | None:
    """(layer, channel) when the job is one image of one channel objective, else None."""
    if job.n_images != 1 or len(job.objectives[0].terms) != 1:
        return None
    weight, term = job.objectives[0].terms[0]
    if term.kind != "channel" or weight != 1.0 or term.layer is None or term.channel is None:
        return None
    return term.layer, term.channel


def pick_distinct(
    scores: Mapping[int, float],
    similarity: Callable[[int, int], float],
    n: int,
    penalty: float = 0.5,
) -> list[int]:
    """Greedy: the strongest first, then whoever is strong and least like those already chosen."""
    if not scores:
        return []
    top = max(abs(v) for v in scores.values()) or 1.0
    chosen: list[int] = []
    candidates = sorted(scores)
    while candidates and len(chosen) < n:

        def merit(c: int) -> float:
            like = max((similarity(c, d) for d in chosen), default=0.0)
            return scores[c] / top - penalty * max(like, 0.0)

        best = max(candidates, key=lambda c: (merit(c), -c))
        chosen.append(best)
        candidates.remove(best)
    return chosen


def _load_tensor(path: Path) -> torch.Tensor:
    with Image.open(path) as img:
        data = torch.frombuffer(bytearray(img.convert("RGB").tobytes()), dtype=torch.uint8)
        w, h = img.size
    return data.view(h, w, 3).permute(2, 0, 1).float() / 255.0


def _image_vector(path: Path) -> torch.Tensor:
    x = torch.nn.functional.adaptive_avg_pool2d(_load_tensor(path)[None], 24).flatten().double()
    return torch.nn.functional.normalize(x - x.mean(), dim=0)


# Figures -----------------------------------------------------------------------------------


class Figure:
    """Base class: options, binding to a model, jobs, numbers, drawing, provenance."""

    type: ClassVar[str] = ""
    OPTIONS: ClassVar[dict[str, Option]] = {}
    DEFAULT_LAYOUT: ClassVar[str] = "page"

    def __init__(self, spec: FigureSpec) -> None:
        self.spec = spec
        self.options = self._parse(spec)
        self.id: str = self.options["id"] or f"figure-{spec.index + 1}"
        self.caption: str = self.options["caption"] or ""
        self.title: str = self.options["title"] or ""
        self.layout: str = self.options["layout"] or self.DEFAULT_LAYOUT

    @classmethod
    def all_options(cls) -> dict[str, Option]:
        common = {
            "id": Option(_str),
            "caption": Option(_text),
            "title": Option(_text),
            "layout": Option(_choice(*LAYOUTS)),
        }
        return {**common, **cls.OPTIONS}

    def _parse(self, spec: FigureSpec) -> dict[str, Any]:
        known = self.all_options()
        out: dict[str, Any] = {}
        for key, value in spec.options.items():
            if key not in known:
                raise FeatvisError(
                    f"{spec.where(key)}: figure '{self.type}': unknown key '{key}' "
                    f"({choices_hint(str(key), known)})"
                )
            try:
                out[key] = known[key].parse(value)
            except _Bad as exc:
                raise FeatvisError(
                    f"{spec.where(key)}: figure '{self.type}': '{key}' {exc}"
                ) from None
        for key, option in known.items():
            if key not in out:
                if option.required:
                    raise FeatvisError(f"{spec.where()}: figure '{self.type}' needs '{key}'")
                out[key] = option.default
        if "id" in spec.options and not _is_id(out["id"]):
            raise FeatvisError(
                f"{spec.where('id')}: figure id '{out['id']}' must be letters, digits, '-' or '_'"
            )
        return out

    def fail(self, key: str, message: str) -> FeatvisError:
        return FeatvisError(f"{self.spec.where(key)}: figure '{self.type}': {message}")

    # Binding -------------------------------------------------------------------------------
    def bind(self, model: LoadedModel) -> Figure:
        """Check every layer, channel and class against `model`; returns self."""
        return self

    def check_layer(self, model: LoadedModel, key: str, layer: str) -> None:
        if layer not in model.layer_names:
            raise self.fail(
                key, f"unknown layer '{layer}' ({choices_hint(layer, model.layer_names)})"
            )

    def check_channel(self, model: LoadedModel, key: str, layer: str, channel: int) -> None:
        self.check_layer(model, key, layer)
        count = model.layer(layer).channels
        if not 0 <= channel < count:
            raise self.fail(
                key, f"channel {channel} out of range for layer '{layer}' (valid: 0..{count - 1})"
            )

    def check_channels(self, model: LoadedModel, key: str, layer: str) -> None:
        value = self.options[key]
        if isinstance(value, tuple):
            for c in value:
                self.check_channel(model, key, layer, c)

    def channels(self, ctx: FigureContext, layer: str, key: str = "channels") -> list[int] | None:
        """The channels option: explicit, or chosen from measurements (None while pending)."""
        value = self.options[key]
        if isinstance(value, tuple):
            return list(value)
        return ctx.choose_channels(layer, ctx.scaled(value))

    def survey(self, ctx: FigureContext, layer: str, key: str = "channels") -> list[VisJob]:
        value = self.options[key]
        return [] if isinstance(value, tuple) else ctx.survey_jobs(layer, ctx.scaled(value))

    # Jobs, numbers, drawing ----------------------------------------------------------------
    def jobs(self, ctx: Any) -> list[VisJob]:
        """The jobs this figure needs now; `ctx` is a FigureContext or the planner's context."""
        return self.needs(FigureContext.of(ctx))

    def needs(self, ctx: FigureContext) -> list[VisJob]:
        raise NotImplementedError

    def number_keys(self) -> tuple[str, ...]:
        return ()

    def layers_used(self, model: LoadedModel) -> list[str]:
        """The layers this figure shows (so a dataset scan can cover them)."""
        names = list(self.options.get("layers") or ())
        if self.options.get("layer"):
            names.append(self.options["layer"])
        pairs = self.options.get("pairs")
        if isinstance(pairs, tuple):
            names += [unit[0] for pair in pairs for unit in pair]
        return list(dict.fromkeys(names))

    def numbers(self, ctx: FigureContext) -> dict[str, Any]:
        return {}

    def view(self, ctx: FigureContext) -> dict[str, Any]:
        raise NotImplementedError

    def render(self, ctx: FigureContext) -> Markup:
        template = ctx.env.get_template(f"figures/{self.type}.html")
        return Markup(template.render(fig=self, ctx=ctx, **self.view(ctx)))

    def provenance(self, ctx: FigureContext) -> list[dict[str, Any]]:
        """How every image of the figure was made, from the artifact sidecars."""
        rows = []
        for job in self.jobs(ctx):
            art = ctx.artifact(job)
            meta = art.meta if art is not None else {}
            rows.append(
                {
                    "key": job.key,
                    "objectives": sorted({o.describe() for o in job.objectives}),
                    "images": job.n_images,
                    "param": describe_param(job.param),
                    "transforms": describe_transforms(job.transforms),
                    "steps": job.steps,
                    "size": job.size,
                    "lr": job.lr,
                    "seed": job.seed,
                    "snapshots": list(job.snapshot_steps),
                    "device": meta.get("device", "?"),
                    "seconds": meta.get("seconds"),
                    "versions": ", ".join(
                        f"{k} {v}" for k, v in sorted(meta.get("versions", {}).items())
                    ),
                }
            )
        return rows


def _is_id(value: str) -> bool:
    return bool(value) and all(c.isalnum() or c in "-_" for c in value) and value[0].isalpha()


def describe_param(param: ParamSpec) -> str:
    kind = "Fourier" if param.kind == "fourier" else "pixel"
    parts = [kind, "decorrelated colour" if param.decorrelate else "RGB"]
    if param.shared:
        parts.append("shared low-res")
    return ", ".join(parts)


def describe_transforms(t: TransformSpec) -> str:
    if t.is_identity:
        return "none"
    parts = []
    if t.pad:
        parts.append(f"pad {t.pad}")
    if t.jitter:
        parts.append(f"jitter {t.jitter}")
    if set(t.scales) != {1.0}:
        parts.append(f"scale {min(t.scales):g}–{max(t.scales):g}")
    if set(t.angles) != {0.0}:
        parts.append(f"rotate ±{max(abs(a) for a in t.angles):g}°")
    if t.jitter2:
        parts.append(f"jitter {t.jitter2}")
    return ", ".join(parts)


class OneChannelFigure(Figure):
    """A figure about one channel of one layer: given, or the layer's strongest."""

    OPTIONS = {"layer": Option(_str, required=True), "channel": Option(lambda v: _int(v))}

    def bind(self, model: LoadedModel) -> Figure:
        self.check_layer(model, "layer", self.options["layer"])
        if self.options["channel"] is not None:
            self.check_channel(model, "channel", self.options["layer"], self.options["channel"])
        return self

    def channel(self, ctx: FigureContext) -> int | None:
        if self.options["channel"] is not None:
            return self.options["channel"]
        chosen = ctx.choose_channels(self.options["layer"], 1)
        return chosen[0] if chosen else None

    def channel_jobs(self, ctx: FigureContext, channel: int) -> list[VisJob]:
        raise NotImplementedError

    def needs(self, ctx: FigureContext) -> list[VisJob]:
        channel = self.channel(ctx)
        if channel is None:
            return ctx.survey_jobs(self.options["layer"], 1)
        return self.channel_jobs(ctx, channel)

    def unit(self, channel: int) -> str:
        return f"{self.options['layer']}:{channel}"

    def ready_channel(self, ctx: FigureContext) -> int:
        """The channel, or MissingArtifact(the survey) while it is being chosen."""
        channel = self.channel(ctx)
        if channel is None:
            raise MissingArtifact(self.jobs(ctx))
        return channel


class LayerGallery(Figure):
    """The overview: a few channels from each of several layers, edges to objects."""

    type = "layer-gallery"
    OPTIONS = {"layers": Option(_layers), "channels": Option(_channels, 4)}

    def bind(self, model: LoadedModel) -> Figure:
        for layer in self.options["layers"] or ():
            self.check_layer(model, "layers", layer)
            self.check_channels(model, "channels", layer)
        return self

    def layers(self, ctx: FigureContext) -> list[str]:
        return self.layers_used(ctx.model)

    def layers_used(self, model: LoadedModel) -> list[str]:
        if self.options["layers"]:
            return list(self.options["layers"])
        by_band: dict[str, list[str]] = {}  # one layer from the middle of each band
        for info in model.layers:
            by_band.setdefault(info.band, []).append(info.name)
        return [group[len(group) // 2] for group in by_band.values()] or list(model.layer_names[:1])

    def needs(self, ctx: FigureContext) -> list[VisJob]:
        out: list[VisJob] = []
        for layer in self.layers(ctx):
            chans = self.channels(ctx, layer)
            out += (
                self.survey(ctx, layer)
                if chans is None
                else [ctx.channel_job(layer, c) for c in chans]
            )
        return out

    def number_keys(self) -> tuple[str, ...]:
        return ("layers", "images")

    def numbers(self, ctx: FigureContext) -> dict[str, Any]:
        rows = self.view(ctx)["rows"]
        return {"layers": len(rows), "images": sum(len(r["images"]) for r in rows)}

    def view(self, ctx: FigureContext) -> dict[str, Any]:
        rows = []
        for layer in self.layers(ctx):
            chans = self.channels(ctx, layer)
            if chans is None:
                raise MissingArtifact(self.jobs(ctx))
            info = ctx.model.layer(layer)
            images = [ctx.view(ctx.channel_job(layer, c), label=f"channel {c}") for c in chans]
            rows.append({"layer": info, "images": images, "href": ctx.layer_link(layer)})
        return {"rows": rows}


class OptimizationProgress(OneChannelFigure):
    """One channel's image after a growing number of optimizer steps, and its objective curve."""

    type = "optimization-progress"
    OPTIONS = {**OneChannelFigure.OPTIONS, "snapshots": Option(lambda v: _int(v, 2, 12), 6)}

    def steps(self, ctx: FigureContext) -> tuple[int, ...]:
        """Snapshots spaced geometrically: early steps change the image most."""
        total, n = ctx.preset.steps, self.options["snapshots"]
        steps = {0, total}
        for i in range(1, n - 1):
            steps.add(max(1, round(total ** (i / (n - 1)))))
        return tuple(sorted(steps))

    def channel_jobs(self, ctx: FigureContext, channel: int) -> list[VisJob]:
        return [
            ctx.job([obj.channel(self.options["layer"], channel)], snapshot_steps=self.steps(ctx))
        ]

    def number_keys(self) -> tuple[str, ...]:
        return (
            "channel",
            "steps",
            "first_step",
            "objective.first",
            "objective.final",
            "hf.first",
            "hf.final",
        )

    def numbers(self, ctx: FigureContext) -> dict[str, Any]:
        v = self.view(ctx)
        frames = v["frames"]
        return {
            "channel": v["unit"],
            "steps": ctx.preset.steps,
            "first_step": self.steps(ctx)[1],
            "objective.first": frames[1].objective,
            "objective.final": frames[-1].objective,
            "hf.first": frames[1].high_freq,
            "hf.final": frames[-1].high_freq,
        }

    def view(self, ctx: FigureContext) -> dict[str, Any]:
        channel = self.ready_channel(ctx)
        job = self.channel_jobs(ctx, channel)[0]
        frames = [ctx.view(job, snapshot=s, label=f"step {s}") for s in self.steps(ctx)]
        history = ctx.require([job])[0].meta["history"][0]
        return {
            "frames": frames,
            "curve": sparkline(history),
            "unit": self.unit(channel),
            "href": ctx.layer_link(self.options["layer"], channel),
        }


class Objectives(OneChannelFigure):
    """What to optimize: neuron, channel, whole layer (DeepDream), class logit and probability.
    The class, unless given, is the one the channel's own visualization drives hardest."""

    type = "objectives"
    OPTIONS = {**OneChannelFigure.OPTIONS, "class": Option(_class, "auto")}
    KINDS = ("neuron", "channel", "layer", "class_logit", "class_prob")
    LABELS = {
        "neuron": "Neuron",
        "channel": "Channel",
        "layer": "Layer (DeepDream)",
        "class_logit": "Class logit",
        "class_prob": "Class probability",
    }

    def bind(self, model: LoadedModel) -> Figure:
        super().bind(model)
        if self.options["class"] != "auto":
            try:
                model.class_index(self.options["class"])
            except FeatvisError as exc:
                raise self.fail("class", str(exc).split(": ", 1)[-1]) from None
        return self

    def class_index(self, ctx: FigureContext, channel: int) -> int | None:
        if self.options["class"] == "auto":
            return ctx.top_class(ctx.channel_job(self.options["layer"], channel))
        return ctx.model.class_index(self.options["class"])

    def objective_jobs(self, ctx: FigureContext, channel: int, cls: int) -> dict[str, VisJob]:
        layer = self.options["layer"]
        made = {
            "neuron": obj.neuron(layer, channel),
            "channel": obj.channel(layer, channel),
            "layer": obj.deepdream(layer),
            "class_logit": obj.class_logit(cls),
            "class_prob": obj.class_prob(cls),
        }
        return {k: ctx.job([o]) for k, o in made.items()}

    def channel_jobs(self, ctx: FigureContext, channel: int) -> list[VisJob]:
        cls = self.class_index(ctx, channel)
        if cls is None:  # the class is read from the channel's visualization, computed first
            return [ctx.channel_job(self.options["layer"], channel)]
        return list(self.objective_jobs(ctx, channel, cls).values())

    def number_keys(self) -> tuple[str, ...]:
        return ("channel", "class", *(f"objective.{k}" for k in self.KINDS))

    def numbers(self, ctx: FigureContext) -> dict[str, Any]:
        v = self.view(ctx)
        out = {"channel": v["unit"], "class": v["class_name"]}
        out.update({f"objective.{c['kind']}": c["image"].objective for c in v["cells"]})
        return out

    def view(self, ctx: FigureContext) -> dict[str, Any]:
        channel = self.ready_channel(ctx)
        cls = self.class_index(ctx, channel)
        if cls is None:
            raise MissingArtifact(self.jobs(ctx))
        jobs = self.objective_jobs(ctx, channel, cls)
        name = ctx.model.class_names[cls] if cls < len(ctx.model.class_names) else str(cls)
        cells = [
            {
                "kind": k,
                "label": self.LABELS[k],
                "what": jobs[k].objectives[0].describe(),
                "image": ctx.view(jobs[k], label=self.LABELS[k]),
            }
            for k in self.KINDS
        ]
        return {
            "cells": cells,
            "unit": self.unit(channel),
            "class_name": name,
            "href": ctx.layer_link(self.options["layer"], channel),
        }


class ChannelsFigure(Figure):
    """A figure about a few channels of one layer, one row each: given, or chosen by the build."""

    OPTIONS = {"layer": Option(_str, required=True), "channels": Option(_channels, 2)}

    def bind(self, model: LoadedModel) -> Figure:
        self.check_layer(model, "layer", self.options["layer"])
        self.check_channels(model, "channels", self.options["layer"])
        return self

    def job(self, ctx: FigureContext, channel: int) -> VisJob:
        return ctx.channel_job(self.options["layer"], channel)

    def needs(self, ctx: FigureContext) -> list[VisJob]:
        chans = self.channels(ctx, self.options["layer"])
        if chans is None:
            return self.survey(ctx, self.options["layer"])
        return [self.job(ctx, c) for c in chans]

    def row(self, ctx: FigureContext, channel: int) -> dict[str, Any]:
        raise NotImplementedError

    def view(self, ctx: FigureContext) -> dict[str, Any]:
        layer = self.options["layer"]
        chans = self.channels(ctx, layer)
        if chans is None:
            raise MissingArtifact(self.jobs(ctx))
        rows = [
            {"unit": f"{layer}:{c}", "href": ctx.layer_link(layer, c), **self.row(ctx, c)}
            for c in chans
        ]
        return {"rows": rows}

    def number_keys(self) -> tuple[str, ...]:
        return ("channels",)

    def numbers(self, ctx: FigureContext) -> dict[str, Any]:
        return {"channels": ", ".join(r["unit"] for r in self.view(ctx)["rows"])}


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


class Negative(ChannelsFigure):
    """A channel maximized and minimized: what excites it and what it pushes against."""

    type = "negative"

    def job(self, ctx: FigureContext, channel: int) -> VisJob:
        c = obj.channel(self.options["layer"], channel)
        return ctx.job([c, -c])

    def row(self, ctx: FigureContext, channel: int) -> dict[str, Any]:
        job = self.job(ctx, channel)
        return {
            "positive": ctx.view(job, 0, label="positive"),
            "negative": ctx.view(job, 1, label="negative"),
        }


class Diversity(ChannelsFigure):
    """Several images of one channel pushed apart by a diversity term."""

    type = "diversity"
    OPTIONS = {
        **ChannelsFigure.OPTIONS,
        "channels": Option(_channels, 1),
        "images": Option(lambda v: _int(v, 2, 12), 4),
        "weight": Option(_float, 5.0),
    }

    def job(self, ctx: FigureContext, channel: int) -> VisJob:
        layer = self.options["layer"]
        o = obj.channel(layer, channel) + self.options["weight"] * obj.diversity(layer)
        return ctx.job([o] * self.options["images"])

    def row(self, ctx: FigureContext, channel: int) -> dict[str, Any]:
        job = self.job(ctx, channel)
        art = ctx.require([job])[0]
        return {
            "images": [ctx.view(job, i) for i in range(job.n_images)],
            "similarity": art.meta["metrics"].get("mean_pairwise_similarity"),
        }

    def number_keys(self) -> tuple[str, ...]:
        return ("similarity", "channels")

    def numbers(self, ctx: FigureContext) -> dict[str, Any]:
        rows = self.view(ctx)["rows"]
        return {
            "similarity": _mean([r["similarity"] for r in rows]),
            "channels": ", ".join(r["unit"] for r in rows),
        }


class InterpolationGrid(Figure):
    """Frames from one channel to another, aligned by shared low-res parameters and an alignment
    term; one job per row, a slider to move along it."""

    type = "interpolation-grid"
    OPTIONS = {
        "layer": Option(_str),
        "pairs": Option(_pairs, 2),
        "frames": Option(lambda v: _int(v, 3, 12), 5),
        "alignment": Option(_float, 1.0),
    }
    DEFAULT_LAYOUT = "page"

    def bind(self, model: LoadedModel) -> Figure:
        pairs = self.options["pairs"]
        if isinstance(pairs, int):
            if not self.options["layer"]:
                raise self.fail("pairs", "a count of pairs needs 'layer:' to choose them from")
            self.check_layer(model, "layer", self.options["layer"])
            return self
        for a, b in pairs:
            self.check_channel(model, "pairs", *a)
            self.check_channel(model, "pairs", *b)
        return self

    def pairs(self, ctx: FigureContext) -> list[tuple[tuple[str, int], tuple[str, int]]] | None:
        pairs = self.options["pairs"]
        if not isinstance(pairs, int):
            return list(pairs)
        layer = self.options["layer"]
        n = ctx.scaled(pairs)
        chans = ctx.choose_channels(layer, 2 * n)
        if chans is None:
            return None
        return [((layer, chans[2 * i]), (layer, chans[2 * i + 1])) for i in range(len(chans) // 2)]

    def row_job(self, ctx: FigureContext, a: tuple[str, int], b: tuple[str, int]) -> VisJob:
        n = self.options["frames"]
        objectives = []
        for k in range(n):
            t = k / (n - 1)
            o = obj.alignment(a[0]) * self.options["alignment"]
            if t < 1:
                o = (1 - t) * obj.channel(*a) + o
            if t > 0:
                o = o + t * obj.channel(*b)
            objectives.append(o)
        return ctx.job(objectives, param=ParamSpec(shared=True))

    def _survey(self, ctx: FigureContext) -> list[VisJob]:
        return ctx.survey_jobs(self.options["layer"], 2 * ctx.scaled(self.options["pairs"]))

    def needs(self, ctx: FigureContext) -> list[VisJob]:
        pairs = self.pairs(ctx)
        if pairs is None:
            return self._survey(ctx)
        return [self.row_job(ctx, a, b) for a, b in pairs]

    def number_keys(self) -> tuple[str, ...]:
        return ("rows", "frames")

    def numbers(self, ctx: FigureContext) -> dict[str, Any]:
        return {"rows": len(self.view(ctx)["rows"]), "frames": self.options["frames"]}

    def view(self, ctx: FigureContext) -> dict[str, Any]:
        pairs = self.pairs(ctx)
        if pairs is None:
            raise MissingArtifact(self.jobs(ctx))
        rows = []
        for a, b in pairs:
            job = self.row_job(ctx, a, b)
            frames = [
                ctx.view(job, i, label=f"t = {i / (job.n_images - 1):.2f}")
                for i in range(job.n_images)
            ]
            rows.append(
                {
                    "a": f"{a[0]}:{a[1]}",
                    "b": f"{b[0]}:{b[1]}",
                    "frames": frames,
                    "href_a": ctx.layer_link(*a),
                    "href_b": ctx.layer_link(*b),
                }
            )
        return {"rows": rows, "middle": (self.options["frames"] - 1) // 2}


REGULARIZERS = ("unregularized", "l1", "tv", "blur", "jitter", "robust")
REGULARIZER_LABELS = {
    "unregularized": "Unregularized",
    "l1": "L1 penalty",
    "tv": "Total variation",
    "blur": "Blur penalty",
    "jitter": "Jitter only",
    "robust": "Transformation robustness",
}
DEFAULT_STRENGTHS: dict[str, tuple[float, ...]] = {
    "l1": (2.0, 10.0, 50.0),
    "tv": (10.0, 50.0, 250.0),
    "blur": (300.0, 3000.0, 30000.0),
    "jitter": (2.0, 4.0, 8.0),  # pixels
    "robust": (0.5, 1.0, 2.0),
}


def _strengths(v: Any) -> dict[str, tuple[float, ...]]:
    if not isinstance(v, dict):
        raise _Bad(f"must map regularizers to lists of strengths, e.g. {{tv: [10, 50]}}, not {v!r}")
    out = {}
    for k, values in v.items():
        if k not in DEFAULT_STRENGTHS:
            raise _Bad(
                f"names unknown regularizer '{k}' ({choices_hint(str(k), DEFAULT_STRENGTHS)})"
            )
        out[k] = _floats(values)
    return out


class Regularization(OneChannelFigure):
    """The spectrum of regularization on a naive pixel parameterization, with the measured share
    of high-frequency energy under every image."""

    type = "regularization"
    OPTIONS = {**OneChannelFigure.OPTIONS, "strengths": Option(_strengths, {})}
    BASE = ParamSpec(kind="pixel", decorrelate=False)

    def strengths(self, ctx: FigureContext, kind: str) -> tuple[float, ...]:
        values = self.options["strengths"].get(kind, DEFAULT_STRENGTHS[kind])
        keep = ctx.scaled(len(values))
        if keep >= len(values):
            return values
        return tuple(values[round(i * (len(values) - 1) / max(keep - 1, 1))] for i in range(keep))

    def cells(self, ctx: FigureContext, channel: int) -> dict[str, list[tuple[str, VisJob]]]:
        layer, size = self.options["layer"], ctx.preset.size
        c = obj.channel(layer, channel)
        plain = {"param": self.BASE, "transforms": TransformSpec.none()}
        out: dict[str, list[tuple[str, VisJob]]] = {"unregularized": [("", ctx.job([c], **plain))]}
        penalty = {"l1": obj.l1, "tv": obj.total_variation, "blur": obj.blur}
        for kind, make in penalty.items():
            out[kind] = [
                (f"{s:g}", ctx.job([c - s * make()], **plain)) for s in self.strengths(ctx, kind)
            ]
        pixels = dict.fromkeys(max(1, round(s)) for s in self.strengths(ctx, "jitter"))
        out["jitter"] = [
            (f"{px} px", ctx.job([c], param=self.BASE, transforms=TransformSpec.jitter_only(px)))
            for px in pixels
        ]
        out["robust"] = [
            (f"×{s:g}", ctx.job([c], param=self.BASE, transforms=scaled_transforms(size, s)))
            for s in self.strengths(ctx, "robust")
        ]
        return out

    def channel_jobs(self, ctx: FigureContext, channel: int) -> list[VisJob]:
        return [job for row in self.cells(ctx, channel).values() for _, job in row]

    def number_keys(self) -> tuple[str, ...]:
        keys = ["channel", "hf.unregularized"]
        for kind in REGULARIZERS[1:]:
            keys += [f"hf.{kind}.weakest", f"hf.{kind}.strongest"]
        return (*keys, "hf.photos")

    def numbers(self, ctx: FigureContext) -> dict[str, Any]:
        v = self.view(ctx)
        out: dict[str, Any] = {"channel": v["unit"], "hf.photos": photo_high_freq(ctx)}
        for row in v["rows"]:
            images = [cell["image"] for cell in row["cells"]]
            if row["kind"] == "unregularized":
                out["hf.unregularized"] = images[0].high_freq
            else:
                out[f"hf.{row['kind']}.weakest"] = images[0].high_freq
                out[f"hf.{row['kind']}.strongest"] = images[-1].high_freq
        return out

    def view(self, ctx: FigureContext) -> dict[str, Any]:
        channel = self.ready_channel(ctx)
        rows = []
        for kind, cells in self.cells(ctx, channel).items():
            rows.append(
                {
                    "kind": kind,
                    "label": REGULARIZER_LABELS[kind],
                    "cells": [{"strength": s, "image": ctx.view(job, label=s)} for s, job in cells],
                }
            )
        return {
            "rows": rows,
            "unit": self.unit(channel),
            "href": ctx.layer_link(self.options["layer"], channel),
        }


PRECONDITIONINGS = {
    "pixel": ("Pixel", ParamSpec(kind="pixel", decorrelate=False)),
    "fourier": ("Fourier", ParamSpec(kind="fourier", decorrelate=False)),
    "decorrelated": ("Fourier + decorrelated colour", ParamSpec(kind="fourier", decorrelate=True)),
}


class Preconditioning(OneChannelFigure):
    """The same objective under three parameterizations, at several step counts."""

    type = "preconditioning"
    OPTIONS = {
        **OneChannelFigure.OPTIONS,
        "snapshots": Option(lambda v: _int(v, 2, 8), 4),
        "transforms": Option(_choice("none", "jitter", "robust"), "jitter"),
    }

    def steps(self, ctx: FigureContext) -> tuple[int, ...]:
        total, n = ctx.preset.steps, self.options["snapshots"]
        return tuple(sorted({max(1, round(total / 2 ** (n - 1 - i))) for i in range(n)}))

    def transforms(self, ctx: FigureContext) -> TransformSpec:
        kind, size = self.options["transforms"], ctx.preset.size
        if kind == "none":
            return TransformSpec.none()
        if kind == "jitter":
            return TransformSpec.jitter_only(max(1, round(size / 32)))
        return scaled_transforms(size)

    def param_jobs(self, ctx: FigureContext, channel: int) -> dict[str, VisJob]:
        c = obj.channel(self.options["layer"], channel)
        return {
            k: ctx.job(
                [c], param=p, transforms=self.transforms(ctx), snapshot_steps=self.steps(ctx)
            )
            for k, (_, p) in PRECONDITIONINGS.items()
        }

    def channel_jobs(self, ctx: FigureContext, channel: int) -> list[VisJob]:
        return list(self.param_jobs(ctx, channel).values())

    def number_keys(self) -> tuple[str, ...]:
        return ("channel", *(f"{m}.{k}" for k in PRECONDITIONINGS for m in ("hf", "objective")))

    def numbers(self, ctx: FigureContext) -> dict[str, Any]:
        v = self.view(ctx)
        out: dict[str, Any] = {"channel": v["unit"]}
        for row in v["rows"]:
            out[f"hf.{row['kind']}"] = row["cells"][-1].high_freq
            out[f"objective.{row['kind']}"] = row["cells"][-1].objective
        return out

    def view(self, ctx: FigureContext) -> dict[str, Any]:
        channel = self.ready_channel(ctx)
        steps = self.steps(ctx)
        rows = []
        for kind, job in self.param_jobs(ctx, channel).items():
            cells = [ctx.view(job, snapshot=s, label=f"{s} steps") for s in steps]
            rows.append({"kind": kind, "label": PRECONDITIONINGS[kind][0], "cells": cells})
        return {
            "rows": rows,
            "steps": steps,
            "unit": self.unit(channel),
            "transforms": describe_transforms(self.transforms(ctx)),
            "href": ctx.layer_link(self.options["layer"], channel),
        }


class DatasetExamples(ChannelsFigure):
    """Each channel's visualization beside the dataset photos that excite it most (and least),
    optionally its activation spectrum, and how the visualization's activation pattern across the
    layer agrees with the top photos' (the "Don't trust your eyes" check)."""

    type = "dataset-examples"
    OPTIONS = {
        **ChannelsFigure.OPTIONS,
        "channels": Option(_channels, 3),
        "examples": Option(lambda v: _int(v, 1, 16), 4),
        "bottom": Option(lambda v: v is True, True),
        "spectrum": Option(lambda v: _int(v, 0, 16), 0),
    }

    def row(self, ctx: FigureContext, channel: int) -> dict[str, Any]:
        layer, k = self.options["layer"], self.options["examples"]
        job = self.job(ctx, channel)
        return {
            "image": ctx.view(job),
            "top": dataset_examples(ctx, layer, channel, "top", k),
            "bottom": dataset_examples(ctx, layer, channel, "bottom", k)
            if self.options["bottom"]
            else [],
            "spectrum": dataset_examples(ctx, layer, channel, "spectrum", self.options["spectrum"]),
            "agreement": pattern_agreement(ctx, job, layer, channel),
            "reading": class_reading(ctx, job, layer, channel),
        }

    def view(self, ctx: FigureContext) -> dict[str, Any]:
        return {
            **super().view(ctx),
            "has_dataset": ctx.dataset is not None,
            "spectrum": self.options["spectrum"],
        }

    def number_keys(self) -> tuple[str, ...]:
        return ("relative", "cosine", "spearman", "channels", "named")

    def numbers(self, ctx: FigureContext) -> dict[str, Any]:
        rows = self.view(ctx)["rows"]
        checks = [r["agreement"] for r in rows]
        readings = [r["reading"] for r in rows if r["reading"] is not None]
        return {
            "relative": _mean([r["image"].relative for r in rows]),
            "cosine": _mean([c.cosine if c else None for c in checks]),
            "spearman": _mean([c.spearman if c else None for c in checks]),
            "channels": ", ".join(r["unit"] for r in rows),
            # "k of n": the channels whose top photo's class the model names among the picture's
            # most likely, of those it read (None: no photos, no class names, or an early band)
            "named": f"{sum(r.meets for r in readings)} of {len(readings)}" if readings else None,
        }


def photo_high_freq(ctx: FigureContext) -> float | None:
    """The dataset photos' high-frequency share at the preset's image size (None without one)."""
    ds = ctx.dataset
    return ds.photo_high_freq(ctx.preset.size) if ds is not None else None


_Check = TypeVar("_Check")


def _memo(
    kind: str, compute: Callable[[FigureContext, VisJob, str, int], _Check]
) -> Callable[[FigureContext, VisJob, str, int], _Check]:
    """`compute` once per (job, layer, channel) and FigureContext: the explorer, the figures and
    the manifest all ask."""

    def memoized(ctx: FigureContext, job: VisJob, layer: str, channel: int) -> _Check:
        key = (kind, job.key, layer, channel)
        if key not in ctx.checks:
            ctx.checks[key] = compute(ctx, job, layer, channel)
        return ctx.checks[key]

    memoized.__doc__ = compute.__doc__
    return memoized


# A pattern cosine below this is flagged: the picture excites the layer unlike the photos do.
LOW_AGREEMENT = 0.1


def _pattern_agreement(
    ctx: FigureContext, job: VisJob, layer: str, channel: int
) -> PatternCheck | None:
    """The visualization's layer pattern against its top photos' (None without a scan)."""
    ds = ctx.dataset
    if ds is None or layer not in getattr(ds, "layer_names", ()):
        return None
    image = _load_tensor(ctx.require([job])[0].images[0])
    return check_patterns(ctx.model, ds, [(layer, channel, image)])[0]


pattern_agreement = _memo("pattern", _pattern_agreement)


READING_TOP = 5  # the picture's classes that count as meeting the photo's class
# Bands whose channels the model's class names can speak for; an edge detector's picture read as
# "plastic bag 3%" says nothing.
READING_BANDS = ("parts", "objects")


@dataclass(frozen=True)
class ClassReading:
    """What the model names: the optimized picture's most likely classes and the channel's top
    photo's most likely class. `meets`: the photo's class is among the picture's top 5."""

    picture: tuple[tuple[str, float], ...]
    photo: tuple[str, float]
    photo_file: str
    meets: bool


def _class_reading(
    ctx: FigureContext, job: VisJob, layer: str, channel: int
) -> ClassReading | None:
    """The model's reading of a channel's visualization beside its reading of the channel's top
    photo (None without a scan of the layer, for a model that names no classes, or for a layer
    outside `READING_BANDS`)."""
    ds, model = ctx.dataset, ctx.model
    if ds is None or layer not in getattr(ds, "layer_names", ()) or not model.class_names:
        return None
    if model.layer(layer).band not in READING_BANDS:
        return None
    examples = ds.examples(layer, channel)
    if not examples:
        return None
    picture = model.read(_load_tensor(ctx.require([job])[0].images[0])[None], READING_TOP)[0]
    if not picture:
        return None  # its output is not one logit per named class
    path = str(examples[0].path)
    photo = ctx.photo_readings.get(path)
    if photo is None:
        view = load_view(Path(path), model.input_size).float()[None] / 255
        photo = ctx.photo_readings[path] = model.read(view, 1)[0][0]
    names = model.class_names
    return ClassReading(
        picture=tuple((names[k], p) for k, p in picture),
        photo=(names[photo[0]], photo[1]),
        photo_file=Path(path).name,
        meets=photo[0] in {k for k, _ in picture},
    )


class_reading = _memo("reading", _class_reading)


def dataset_examples(
    ctx: FigureContext, layer: str, channel: int, kind: str, k: int
) -> list[ImageView]:
    """Dataset photos for a channel as images in the site ([] without a dataset or scan): the
    patches around the `top` and `bottom` peaks, or the whole photos of its `spectrum`."""
    ds = ctx.dataset
    if k < 1 or ds is None or not ctx.place_photo or layer not in getattr(ds, "layer_names", ()):
        return []
    if kind == "spectrum":
        examples = ds.spectrum(layer, channel, k)
    else:
        examples = ds.examples(layer, channel, kind)[:k]
    out = []
    for ex in examples:
        where = "whole" if ex.whole else f"{ex.y}|{ex.x}"
        digest = hashlib.sha256(f"{ex.path}|{where}|{layer}".encode()).hexdigest()[:20]
        url = ctx.place_photo(digest, ds.patch(ex, layer, 96))
        name = Path(ex.path).name
        out.append(
            ImageView(url, f"{kind} example for {layer}:{channel}: {name}", name, ex.activation)
        )
    return out


def sparkline(values: Sequence[float | None], width: int = 240, height: int = 48) -> dict[str, Any]:
    """An SVG polyline of a curve (the objective over steps), scaled into width x height."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < 2:
        return {"points": "", "width": width, "height": height, "lo": None, "hi": None}
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    span, n = (hi - lo) or 1.0, len(values) - 1
    coords = " ".join(
        f"{i / n * width:.1f},{height - (v - lo) / span * height:.1f}" for i, v in points
    )
    return {"points": coords, "width": width, "height": height, "lo": lo, "hi": hi}


def layer_url(layer: str, channel: int | None = None) -> str:
    """The explorer page of a layer (relative to the site root), with the channel's anchor."""
    return f"explorer/{layer_file(layer)}" + (f"#ch-{channel}" if channel is not None else "")


def layer_file(layer: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in layer) + ".html"


class Directions(ChannelsFigure):
    """Neurons working together: two channels, their sum, and random directions of the layer.

    Channels are taken in pairs (a, b): the row shows a, b and the objective a + b, so a reader sees
    whether the combination is a blend of the two or something new. `random` adds directions in
    the layer's channel space, drawn from a generator seeded by the layer and the site's seed.
    """

    type = "directions"
    OPTIONS = {
        **ChannelsFigure.OPTIONS,
        "channels": Option(_channels, 4),
        "random": Option(lambda v: _int(v, 0, 8), 3),
    }

    def pairs(self, ctx: FigureContext) -> list[tuple[int, int]] | None:
        chans = self.channels(ctx, self.options["layer"])
        if chans is None:
            return None
        return [(a, b) for a, b in zip(chans[0::2], chans[1::2], strict=False)]

    def sum_job(self, ctx: FigureContext, a: int, b: int) -> VisJob:
        layer = self.options["layer"]
        return ctx.job([obj.channel(layer, a) + obj.channel(layer, b)])

    def random_jobs(self, ctx: FigureContext) -> list[VisJob]:
        layer = self.options["layer"]
        width = ctx.model.layer(layer).channels
        seed = int(hashlib.sha256(f"{layer}:{ctx.config.seed}".encode()).hexdigest()[:8], 16)
        gen = torch.Generator().manual_seed(seed)
        draws = torch.randn(self.options["random"], width, generator=gen)
        vectors = torch.nn.functional.normalize(draws, dim=1)
        return [ctx.job([obj.direction(layer, v.tolist())]) for v in vectors]

    def needs(self, ctx: FigureContext) -> list[VisJob]:
        pairs = self.pairs(ctx)
        if pairs is None:
            return self.survey(ctx, self.options["layer"]) + self.random_jobs(ctx)
        layer = self.options["layer"]
        jobs = [ctx.channel_job(layer, c) for pair in pairs for c in pair]
        return jobs + [self.sum_job(ctx, a, b) for a, b in pairs] + self.random_jobs(ctx)

    def view(self, ctx: FigureContext) -> dict[str, Any]:
        layer = self.options["layer"]
        pairs = self.pairs(ctx)
        if pairs is None:
            raise MissingArtifact(self.jobs(ctx))
        rows = [
            {
                "units": [f"{layer}:{a}", f"{layer}:{b}"],
                "hrefs": [ctx.layer_link(layer, a), ctx.layer_link(layer, b)],
                "a": ctx.view(ctx.channel_job(layer, a), 0, label=f"{layer}:{a}"),
                "b": ctx.view(ctx.channel_job(layer, b), 0, label=f"{layer}:{b}"),
                "sum": ctx.view(self.sum_job(ctx, a, b), 0, label=f"{a} + {b}"),
            }
            for a, b in pairs
        ]
        randoms = [
            ctx.view(job, 0, label=f"direction {k + 1}")
            for k, job in enumerate(self.random_jobs(ctx))
        ]
        return {"rows": rows, "randoms": randoms, "layer": layer}

    def number_keys(self) -> tuple[str, ...]:
        return ("channels", "random")

    def numbers(self, ctx: FigureContext) -> dict[str, Any]:
        view = self.view(ctx)
        units = [u for r in view["rows"] for u in r["units"]]
        return {"channels": ", ".join(units), "random": len(view["randoms"])}


FIGURE_TYPES: dict[str, type[Figure]] = {
    cls.type: cls
    for cls in (
        LayerGallery,
        OptimizationProgress,
        Objectives,
        Negative,
        Diversity,
        InterpolationGrid,
        Directions,
        Regularization,
        Preconditioning,
        DatasetExamples,
    )
}


def figure_for(spec: FigureSpec) -> Figure:
    """The figure a spec describes, its options checked (layers and channels need `bind`)."""
    if spec.type not in FIGURE_TYPES:
        raise FeatvisError(
            f"{spec.where('type')}: unknown figure type '{spec.type}' "
            f"({choices_hint(spec.type, FIGURE_TYPES)})"
        )
    return FIGURE_TYPES[spec.type](spec)


def page_figures(page: Any, model: LoadedModel) -> list[Figure]:
    """Every figure of a page, checked against the model."""
    return [figure_for(spec).bind(model) for spec in page.figures]


def page_jobs(page: Any, ctx: FigureContext) -> list[VisJob]:
    """Every job the page's figures need now (surveys first while channels are being chosen)."""
    return [job for fig in page_figures(page, ctx.model) for job in fig.jobs(ctx)]


__all__ = [
    "FIGURE_TYPES",
    "Figure",
    "FigureContext",
    "ImageView",
    "MissingArtifact",
    "figure_for",
    "layer_file",
    "layer_url",
    "page_figures",
    "page_jobs",
    "pick_distinct",
    "single_channel",
]
