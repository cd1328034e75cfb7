"""Figure types: one class per ```figure block type: the jobs it needs and how it draws.

A `Figure` is made from a `FigureSpec` (`figure_for`): its options are checked at once (unknown key,
wrong type, bad value -> `FeatvisError` at the key's line with the valid choices). `bind(model)`
checks layers and channels against the model. `jobs(ctx)` lists the `VisJob`s it needs and
`render(ctx)` draws it through `templates/figures/<type>.html`.

Channels may be written out (`channels: [3, 17]`) or left to the build (`channels: 4`): the build
then picks the strongest, most distinct channels of the layer from measurements, the dataset's
statistics when a dataset is configured, otherwise a survey of standard visualizations in the
artifact cache (`PlanContext.choose_channels`). While a survey is missing, `jobs` asks for the
survey; the build computes it and plans again (plan -> compute -> plan), so choices settle in two
rounds. `numbers(ctx)` gives the measured values an article quotes as `{{ numbers.ID.KEY }}`;
`number_keys()` names them before anything is computed, so a typo fails while reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from markupsafe import Markup

from generator.config.schema import Option, choice, text, whole
from generator.core.errors import FeatvisError, choices_hint
from generator.figures.context import DrawContext, MissingArtifact, PlanContext
from generator.figures.options import LAYOUTS, FigureOptions, _channels, _text
from generator.jobs import VisJob
from generator.models.base import BANDS, LoadedModel
from generator.models.catalog import resolve_layer_ref
from generator.optvis.param import ParamSpec
from generator.optvis.transforms import TransformSpec
from generator.pages.content import FigureSpec


class Figure:
    """Base class: options, binding to a model, jobs, numbers, drawing, provenance."""

    type: ClassVar[str] = ""
    OPTIONS: ClassVar[dict[str, Option]] = {}
    DEFAULT_LAYOUT: ClassVar[str] = "page"

    def __init__(self, spec: FigureSpec) -> None:
        self.spec = spec
        self.options = FigureOptions.parse(self.all_options(), spec, self.type)
        self.id: str = spec.anchor
        self.caption: str = self.options["caption"] or ""
        self.title: str = self.options["title"] or ""
        self.layout: str = self.options["layout"] or self.DEFAULT_LAYOUT
        # its `model:`; `place` sets the site's first model when the block names none
        self.model_id: str | None = self.options["model"]

    @classmethod
    def all_options(cls) -> dict[str, Option]:
        common = {
            "id": Option(text),
            "caption": Option(_text),
            "title": Option(_text),
            "layout": Option(choice(*LAYOUTS)),
            "model": Option(text),  # one of the site's `models` (default: the first)
        }
        return {**common, **cls.OPTIONS}

    def fail(self, key: str, message: str) -> FeatvisError:
        return FeatvisError(f"{self.spec.where(key)}: figure '{self.type}': {message}")

    # Models --------------------------------------------------------------------------------
    def place(self, site_models: Sequence[str], default: str | None = None) -> Figure:
        """Settle which of the site's models (ids, in site.toml's order) the figure shows: its
        `model:`, else `default` (its page's `model`), else the first. Returns self."""
        if self.model_id is None and site_models:
            self.model_id = default or site_models[0]
        return self

    def models_used(self) -> tuple[str, ...]:
        """The ids of the models this figure shows (planned and drawn with each one's context);
        () before `place` when the block names none: any model's context will do."""
        return (self.model_id,) if self.model_id else ()

    def uses(self, model_id: str) -> bool:
        """Whether the plan of model `model_id` includes this figure's jobs."""
        used = self.models_used()
        return not used or model_id in used

    # Binding -------------------------------------------------------------------------------
    def resolve(self, model: LoadedModel) -> Figure:
        """Band references (`layer: parts`, `parts[-1]`, `layers: [edges, objects]`, units
        `parts[0]:3`) -> the model's layer names (new options, the parsed ones unchanged; a layer
        named twice in `layers` once, a list of bands in depth order); returns self. An
        unresolvable one is an error at its line naming the bands and their sizes."""

        def band(ref: str) -> bool:
            return ref.split("[", 1)[0].strip() in BANDS

        def one(key: str, ref: str) -> str:
            if not band(ref):
                return ref  # a layer name: `bind` checks it
            try:
                return resolve_layer_ref(ref, model.layers, model.id)  # the layers figures take
            except FeatvisError as exc:
                raise self.fail(key, str(exc)) from None

        resolved: dict[str, Any] = {}
        if isinstance(self.options.get("layer"), str):
            resolved["layer"] = one("layer", self.options["layer"])
        refs = self.options.get("layers")
        if isinstance(refs, tuple):
            # `objects[0]` and `objects[-1]` of a band of one layer: that layer once
            named = list(dict.fromkeys(one("layers", r) for r in refs))
            if all(band(r) for r in refs):  # bands: in depth order, also where a small network's
                named.sort(key=lambda name: model.layer(name).depth)  # bands share layers
            resolved["layers"] = tuple(named)
        pairs = self.options.get("pairs")
        if isinstance(pairs, tuple):
            resolved["pairs"] = tuple(
                tuple((one("pairs", layer), ch) for layer, ch in pair) for pair in pairs
            )
        self.options = self.options.replace(**resolved)
        return self

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

    def channels(self, ctx: PlanContext, layer: str, key: str = "channels") -> list[int] | None:
        """The channels option: explicit, or chosen from measurements (None while pending)."""
        value = self.options[key]
        if isinstance(value, tuple):
            return list(value)
        return ctx.choose_channels(layer, ctx.scaled(value))

    def survey(self, ctx: PlanContext, layer: str, key: str = "channels") -> list[VisJob]:
        value = self.options[key]
        return [] if isinstance(value, tuple) else ctx.survey_jobs(layer, ctx.scaled(value))

    # Jobs, numbers, drawing ----------------------------------------------------------------
    def jobs(self, ctx: PlanContext) -> list[VisJob]:
        """The jobs this figure needs now (the survey while its channels are being chosen)."""
        return self.needs(ctx)

    def needs(self, ctx: PlanContext) -> list[VisJob]:
        raise NotImplementedError

    def shown_jobs(self, ctx: DrawContext) -> list[VisJob]:
        """Every job whose images the drawn figure shows (of every model it shows)."""
        return self.jobs(ctx)

    def class_reads(self, ctx: PlanContext) -> list[VisJob]:
        """The jobs whose image's top class this figure reads to plan (`ctx.top_class`): the
        measure step between the plan -> compute rounds measures them."""
        return []

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

    def numbers(self, ctx: DrawContext) -> dict[str, Any]:
        return {}

    def view(self, ctx: DrawContext) -> dict[str, Any]:
        raise NotImplementedError

    def render(self, ctx: DrawContext, page_model: str | None = None) -> Markup:
        """The figure's HTML; `page_model`, the model of the article it is drawn in, lets a figure
        of another of the site's models name its own under it."""
        template = ctx.env.get_template(f"figures/{self.type}.html")
        return Markup(template.render(fig=self, ctx=ctx, page_model=page_model, **self.view(ctx)))

    def provenance(self, ctx: DrawContext) -> list[dict[str, Any]]:
        """How every image of the figure was made, from the artifact sidecars."""
        rows = []
        for job in self.jobs(ctx):
            art = ctx.artifact(job)
            meta = art.sidecar if art is not None else None
            rows.append(
                {
                    "key": job.key,
                    "objectives": sorted({o.describe(ctx.shown) for o in job.objectives}),
                    "images": job.n_images,
                    "param": describe_param(job.param, grey=_grey(ctx, job)),
                    "transforms": describe_transforms(job.transforms),
                    "steps": job.steps,
                    "size": job.size,
                    "lr": job.lr,
                    "seed": job.seed,
                    "snapshots": list(job.snapshot_steps),
                    "device": meta.device if meta else "?",
                    "seconds": meta.seconds if meta else None,
                    "versions": ", ".join(
                        f"{k} {v}" for k, v in sorted(meta.versions.items() if meta else ())
                    ),
                }
            )
        return rows


def _grey(ctx: DrawContext, job: VisJob) -> bool:
    """Whether the network `job` optimizes for sees grey pictures (its images had one channel)."""
    own = ctx.of(job.model)
    return own is not None and own.model.grey


def describe_param(param: ParamSpec, *, grey: bool = False) -> str:
    """The parameterization as the appendix names it; a grey network's is one channel, whatever
    the spec says of colour."""
    kind = "Fourier" if param.kind == "fourier" else "pixel"
    colour = "decorrelated colour" if param.decorrelate else "RGB"
    parts = [kind, "one grey channel" if grey else colour]
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

    OPTIONS = {"layer": Option(text, required=True), "channel": Option(whole())}

    def bind(self, model: LoadedModel) -> Figure:
        self.check_layer(model, "layer", self.options["layer"])
        if self.options["channel"] is not None:
            self.check_channel(model, "channel", self.options["layer"], self.options["channel"])
        return self

    def channel(self, ctx: PlanContext) -> int | None:
        if self.options["channel"] is not None:
            return self.options["channel"]
        chosen = ctx.choose_channels(self.options["layer"], 1)
        return chosen[0] if chosen else None

    def channel_jobs(self, ctx: PlanContext, channel: int) -> list[VisJob]:
        """The jobs the figure draws for `channel`: by default its channel picture alone."""
        return [ctx.channel_job(self.options["layer"], channel)]

    def needs(self, ctx: PlanContext) -> list[VisJob]:
        channel = self.channel(ctx)
        if channel is None:
            return ctx.survey_jobs(self.options["layer"], 1)
        return self.channel_jobs(ctx, channel)

    def unit(self, channel: int) -> str:
        return f"{self.options['layer']}:{channel}"

    def ready_channel(self, ctx: PlanContext) -> int:
        """The channel, or MissingArtifact(the survey) while it is being chosen."""
        channel = self.channel(ctx)
        if channel is None:
            raise MissingArtifact(self.jobs(ctx))
        return channel


class ChannelsFigure(Figure):
    """A figure about a few channels of one layer, one row each: given, or chosen by the build."""

    OPTIONS = {"layer": Option(text, required=True), "channels": Option(_channels, 2)}

    def bind(self, model: LoadedModel) -> Figure:
        self.check_layer(model, "layer", self.options["layer"])
        self.check_channels(model, "channels", self.options["layer"])
        return self

    def job(self, ctx: PlanContext, channel: int) -> VisJob:
        return ctx.channel_job(self.options["layer"], channel)

    def needs(self, ctx: PlanContext) -> list[VisJob]:
        chans = self.channels(ctx, self.options["layer"])
        if chans is None:
            return self.survey(ctx, self.options["layer"])
        return [self.job(ctx, c) for c in chans]

    def row(self, ctx: DrawContext, channel: int) -> dict[str, Any]:
        raise NotImplementedError

    def view(self, ctx: DrawContext) -> dict[str, Any]:
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

    def numbers(self, ctx: DrawContext) -> dict[str, Any]:
        return {"channels": ", ".join(r["unit"] for r in self.view(ctx)["rows"])}


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def sparkline(values: Sequence[float | None], width: int = 240, height: int = 48) -> dict[str, Any]:
    """An SVG polyline of a curve (the objective over steps), scaled into width x height, with
    its lowest, highest, first and last values."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < 2:
        return {"points": "", "width": width, "height": height, "lo": None, "hi": None,
                "first": None, "last": None}
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    span, n = (hi - lo) or 1.0, len(values) - 1
    coords = " ".join(
        f"{i / n * width:.1f},{height - (v - lo) / span * height:.1f}" for i, v in points
    )
    return {"points": coords, "width": width, "height": height, "lo": lo, "hi": hi,
            "first": points[0][1], "last": points[-1][1]}
