"""The contexts figures plan and draw in.

`PlanContext`: what planning needs and nothing more: config, model, preset, the artifact cache
and the dataset; it makes jobs and chooses channels from what earlier rounds measured, and
draws nothing. `DrawContext` adds what the site renderer sets to draw: the Jinja2 environment,
image placement, the page's prefix, the measurements and circuits, the explorer's pages, and
the draw contexts of the site's other models (`of`), for a figure that shows several.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from generator import metrics
from generator.atlas.circuits import ChannelCircuit, LayerCircuit
from generator.atlas.closure import circuit_in
from generator.config.presets import Preset
from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError
from generator.core.images import load_tensor
from generator.core.urls import channel_url, layer_url
from generator.core.words import counted
from generator.dataset.index import DatasetIndex
from generator.figures.channels import (
    _image_vector,
    minimized,
    pick_distinct,
    set_channel,
    shown_value,
    shows_nothing,
    single_channel,
)
from generator.jobs import VisJob
from generator.measure.living import asleep_channels, dead_channels
from generator.measure.stage import top_class
from generator.measure.store import MeasureStore
from generator.models.base import LoadedModel
from generator.models.preact import negative_of, unit_in
from generator.optvis import objectives as obj
from generator.optvis.objectives import Objective
from generator.optvis.param import ParamSpec
from generator.optvis.recipe import Recipe, job_options

SURVEY_MIN = 8  # channels surveyed per layer to choose from, at the least


class MissingArtifact(Exception):
    """A job this figure needs is not in the cache (render from the cache only)."""

    def __init__(self, jobs: Sequence[VisJob]) -> None:
        super().__init__(f"{len(jobs)} visualizations missing")
        self.jobs = list(jobs)


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
    # what `objective` is: "obj", the final objective; "act", the channel's mean activation (a
    # diversity image's, whose objective adds the diversity term); "low", the channel's mean
    # activation where the image minimizes it (a negative)
    measure: str = "obj"
    # the shown value at the optimizer's first step where the objective ended below it (the
    # picture excites the unit less than the noise it started from, or for a negative lowers it
    # less: an untrained network's flat channels); None: the objective rose
    fell: float | None = None
    # the image leaves its channel (or neuron) at 0, as the starting image did: it shows nothing
    # of it (a class objective at 0, a saturated log-probability, is no such thing)
    unmoved: bool = False
    # the image is flat (`metrics.contrast_levels`): no pattern, and no `high_freq` shown
    flat: bool = False


@dataclass
class PlanContext:
    """What figures read while planning: config, model, preset, cache, dataset.

    `explorer` holds the plan's explorer jobs, layer -> channel -> job (their artifacts join the
    survey a figure chooses channels from). Nothing here draws or runs the network.
    """

    config: SiteConfig
    model: LoadedModel
    preset: Preset
    store: Any = None  # generator.cache.ArtifactStore
    dataset: DatasetIndex | None = None
    explorer: Mapping[str, Mapping[int, VisJob]] = field(default_factory=dict)
    _artifacts: dict[str, Any] = field(default_factory=dict, repr=False)
    _choices: dict[tuple[str, int, frozenset[int]], list[int] | None] = field(
        default_factory=dict, repr=False
    )
    _dead: dict[str, frozenset[int]] = field(default_factory=dict, repr=False)
    _asleep: dict[str, frozenset[int]] = field(default_factory=dict, repr=False)
    # the survey jobs channels were chosen from, in order: part of the plan whatever the cache
    # holds, so every build of the same inputs computes, shows and counts the same ones
    surveyed: list[VisJob] = field(default_factory=list, repr=False)

    # Jobs ----------------------------------------------------------------------------------
    def job(self, objectives: Sequence[Objective], **changes: Any) -> VisJob:
        """A job at the preset's size, steps and recipe (site.toml's [recipe]; class pictures
        with their own steps and schedule, `optvis.recipe.job_options`) and the
        site's seed; every other field is `VisJob`'s default (Fourier + decorrelated, the Distill
        transforms) unless changed. The planner's explorer jobs are made the same way, so equal
        specs share one artifact."""
        spec: dict[str, Any] = {
            "model": self.model.id,
            "weights_digest": self.model.digest,
            "objectives": tuple(objectives),
            "size": self.preset.size,
            "seed": self.config.seed,
        }
        # the steps, and the [recipe] table's options (class pictures have their own)
        seen = changes.get("input_size") or changes.get("size", spec["size"])
        options = job_options(
            objectives, dict(self.preset.recipe), self.preset.steps,
            seen=seen, native=self.model.input_size,
        )
        spec["steps"] = options.pop("steps")
        if "lr" in options:
            spec["lr"] = options.pop("lr")
        spectrum = {k: options.pop(k) for k in ("decay", "anchored") if k in options}
        if options:
            spec["recipe"] = Recipe(**options)
        spec.update(changes)
        param = spec.get("param", ParamSpec())
        if spectrum and param.kind == "fourier":  # the Fourier spectrum's falloff and anchor
            spec["param"] = dataclasses.replace(param, **spectrum)
        return VisJob(**spec)

    def channel_job(self, layer: str, channel: int) -> VisJob:
        """The standard visualization of one channel (the explorer's, the gallery's). A channel
        flat on the starting images (`measure.living.asleep_channels`) behind a ReLU whose
        pre-activation a module makes (`models.preact`) is led by it until it moves: at the
        floor no gradient would reach the image, and its picture would stay grey."""
        return self.job([self.led(layer, channel)])

    def led(self, layer: str, channel: int) -> Objective:
        """`channel` of `layer` as every picture that maximizes it optimizes it, alone or as a
        term of a mix (a sum of channels, an interpolation's frames, a regularized or diversity
        objective): led by its pre-activation while it is flat (`lead`), so a flat term moves as
        its own picture does. A term led only while its channel is flat on the image, adding
        nothing to the objective's value, leaves the other terms of a mix as they were: a
        channel that moves from the start keeps its objective, its job and its cached picture."""
        return obj.channel(layer, channel, via=self.lead(layer, channel))

    def lead(self, layer: str, channel: int) -> tuple[str, int] | None:
        """The pre-activation, and its channel there, that leads `channel` of `layer` while it
        is flat (see `channel_job`: every picture that maximizes the channel alone), or None."""
        return self._leader(layer, channel) if channel in self.asleep(layer) else None

    def _leader(self, layer: str, channel: int) -> tuple[str, int] | None:
        """The channel's pre-activation where it is not the layer itself
        (`models.preact.negative_of`: the layer's, or in a layer that has them per channel
        only, the channel's own), else None: nothing can lead it while it is flat."""
        at = negative_of(self.model, layer, channel)
        return at if at is not None and at[0] != layer else None

    def shown(self, path: str, channel: int | None = None) -> str:
        """A captured path, or its channel, as a reader reads it, floors and branches named as
        the model has them (`models.preact.unit_in`): how alt texts and tables name a
        pre-activation (`Objective.describe`)."""
        return unit_in(self.model, path, channel)

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
        """Standard visualizations of a spread of living channels (plus the explorer's) to choose
        from."""
        channels = self.model.layer(layer).channels
        dead = self.dead(layer)
        living = [c for c in range(channels) if c not in dead] or list(range(channels))
        count = min(len(living), max(2 * n, SURVEY_MIN))
        spread = sorted({living[round(i * len(living) / count)] for i in range(count)})
        jobs = [self.channel_job(layer, c) for c in spread]
        known = {j.key for j in jobs}
        return jobs + [j for j in self.explorer.get(layer, {}).values() if j.key not in known]

    def choose_channels(
        self, layer: str, n: int, exclude: Sequence[int] = (), last: frozenset[int] = frozenset()
    ) -> list[int] | None:
        """The `n` strongest, most distinct channels of `layer`, those of `last` only where no
        other is left (a negative figure's channels without a negative); None while the survey
        is missing."""
        key = (layer, n, last)
        if key not in self._choices:
            self._choices[key] = self._choose(layer, n, last)
        chosen = self._choices[key]
        if chosen is None:
            return None
        return [c for c in chosen if c not in exclude][:n]

    def asleep(self, layer: str) -> frozenset[int]:
        """The layer's channels flat on the starting images (`measure.living`)."""
        if layer not in self._asleep:
            self._asleep[layer] = asleep_channels(self.model, self.config.cache_dir, layer)
        return self._asleep[layer]

    def unled(self, layer: str) -> frozenset[int]:
        """The layer's channels flat on the starting images that no pre-activation can lead
        (`channel_job`): their pictures stay at the start and show nothing, so figures choose
        them only where nothing else is left."""
        return frozenset(c for c in self.asleep(layer) if self._leader(layer, c) is None)

    def dead(self, layer: str) -> frozenset[int]:
        """The layer's dead channels (`measure.living`), never chosen while others live."""
        if layer not in self._dead:
            self._dead[layer] = dead_channels(
                self.model, self.config.cache_dir, layer, self.dataset
            )
        return self._dead[layer]

    def _choose(self, layer: str, n: int, last: frozenset[int] = frozenset()) -> list[int] | None:
        n = min(n, self.model.layer(layer).channels)
        if self.dataset is not None and layer in self.dataset.layer_names:
            return self._choose_from_dataset(layer, n, last)
        jobs = self.survey_jobs(layer, n)
        self.surveyed.extend(jobs)
        found = [self.artifact(j) for j in jobs]
        if any(a is None for a in found):
            return None
        scores: dict[int, float] = {}
        vectors: dict[int, torch.Tensor] = {}
        for job, art in zip(jobs, found, strict=True):
            channel = single_channel(job)[1]  # type: ignore[index]
            scores[channel] = float(art.sidecar.final[0] or 0.0)
            vectors[channel] = _image_vector(art.images[0])
        scores = _living(_living(scores, self.dead(layer)), last)
        return pick_distinct(scores, lambda a, b: float(vectors[a] @ vectors[b]), n)

    def _choose_from_dataset(
        self, layer: str, n: int, last: frozenset[int] = frozenset()
    ) -> list[int]:
        ds = self.dataset
        assert ds is not None
        channels = self.model.layer(layer).channels
        strongest = ds.strongest_mean
        scores = _living({c: strongest(layer, c) for c in range(channels)}, self.dead(layer))
        scores = _living(scores, self.unled(layer))  # their pictures would show nothing
        scores = _living(scores, last)
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
        return top_class(self.model, art, MeasureStore(self.store.root))


def _fell(history: Sequence[float | None], final: float | None) -> float | None:
    """The first step's objective when the final objective ended below it, else None."""
    first = history[0] if history else None
    return first if first is not None and final is not None and final < first else None


def _living(scores: dict[int, float], dead: frozenset[int]) -> dict[int, float]:
    """The scores of the living channels (all of them when none lives)."""
    return {c: v for c, v in scores.items() if c not in dead} or scores


@dataclass
class DrawContext(PlanContext):
    """A plan context plus what drawing needs, set by the site renderer: `env` (Jinja2),
    `image_url(path)` to place an artifact's image in the site and `place_photo(key, pil)` a
    dataset photo, `prefix` (the way back to the site root from the page being drawn), the
    explorer's channels with pages, the measurements and circuits, and `others`: the draw
    contexts of the site's other models by id (`of`)."""

    env: Any = None
    image_url: Callable[[Path], str] | None = None
    place_photo: Callable[[str, Image.Image], str] | None = None
    prefix: str = ""
    explorer_channels: dict[str, set[int]] = field(default_factory=dict)  # what layer pages show
    measures: Any = None  # generator.measure.stage.Measurements: what the drawing shows of them
    # circuits measured before rendering: (source layer, target layer) -> LayerCircuit
    circuits: dict[tuple[str, str], LayerCircuit] = field(default_factory=dict, repr=False)
    others: dict[str, DrawContext] = field(default_factory=dict, repr=False)
    _flat: dict[Path, bool] = field(default_factory=dict, repr=False)  # by image file

    def of(self, model_id: str) -> DrawContext | None:
        """The draw context of the site's model `model_id` (self for its own; None when the
        renderer has none for it)."""
        return self if model_id == self.model.id else self.others.get(model_id)

    def view(
        self, job: VisJob, index: int = 0, *, label: str = "", snapshot: int | None = None
    ) -> ImageView:
        """An image of a job as the template shows it, with its numbers."""
        art = self.require([job])[0]
        path = art.snapshots[snapshot][index] if snapshot is not None else art.images[index]
        measure = "obj"
        if snapshot is None:
            objective, measure = shown_value(job, art.sidecar, index)
            hf = art.sidecar.metrics.high_freq_share[index]
        else:
            history = art.sidecar.history[index]
            objective = history[min(snapshot, len(history)) - 1] if snapshot > 0 else None
            hf = float(metrics.high_freq_share(load_tensor(path))[0])
        if path not in self._flat:
            with Image.open(path) as img:
                self._flat[path] = metrics.contrast_levels(img.histogram()) <= metrics.FLAT_LEVELS
        flat = self._flat[path]
        relative = None
        unit = single_channel(job) or (set_channel(job) if measure == "act" else None)
        if unit and self.dataset is not None and snapshot is None and objective is not None:
            strongest = self.dataset.strongest_mean
            try:
                relative = metrics.relative_activation(objective, strongest(*unit))
            except FeatvisError:
                relative = None  # the layer was not scanned
        assert self.image_url is not None, "drawing needs the site renderer's image_url"
        alt = f"{job.objectives[index].describe(self.shown)}" + (
            f" after {counted(snapshot, 'step')}" if snapshot is not None else ""
        )
        fell = None
        if snapshot is None and measure != "act":  # a diversity term has no start to compare
            fell = _fell(art.sidecar.history[index], art.sidecar.final[index])
            if fell is not None and measure == "low":  # in the channel's own value, as shown
                fell /= minimized(job, index) or 1.0
        return ImageView(
            self.image_url(path), alt, label, objective, None if flat else hf, relative, job.key,
            measure, fell, shows_nothing(job, index, objective), flat,
        )

    def url(self, path: str) -> str:
        return self.prefix + path

    def channel_link(self, layer: str, channel: int) -> str | None:
        """The channel's own page; None when the explorer has no page for it."""
        if channel not in self.explorer_channels.get(layer, set()):
            return None
        return self.prefix + channel_url(self.model.slug, layer, channel)

    def circuit_of(self, layer: str, channel: int, k: int = 5) -> ChannelCircuit | None:
        """`channel`'s circuit from the measured pairs (None when no pair touches `layer`)."""
        return circuit_in(self.circuits, layer, channel, k, block=False)

    def layer_link(self, layer: str, channel: int | None = None) -> str | None:
        """The explorer page of `layer`, at the channel's anchor when the page shows it; None
        when the layer has no page (it is not among `explorer_layers`)."""
        if layer not in self.explorer_channels:
            return None
        shown = self.explorer_channels[layer]
        anchor = channel if channel in shown else None
        return self.prefix + layer_url(self.model.slug, layer, anchor)

