"""`interpolation-grid`: frames from one channel to another, with a slider.
"""

from __future__ import annotations

from typing import Any

from generator.config.schema import Option, number, text, whole
from generator.figures.base import Figure
from generator.figures.context import DrawContext, MissingArtifact, PlanContext
from generator.figures.options import _pairs
from generator.jobs import VisJob
from generator.models.base import LoadedModel
from generator.optvis import objectives as obj
from generator.optvis.param import ParamSpec


class InterpolationGrid(Figure):
    """Frames from one channel to another, aligned by shared low-res parameters and an alignment
    term; one job per row, a slider to move along it."""

    type = "interpolation-grid"
    OPTIONS = {
        "layer": Option(text),
        "pairs": Option(_pairs, 2),
        "frames": Option(whole(3, 12), 5),
        "alignment": Option(number, 1.0),
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

    def pairs(self, ctx: PlanContext) -> list[tuple[tuple[str, int], tuple[str, int]]] | None:
        pairs = self.options["pairs"]
        if not isinstance(pairs, int):
            return list(pairs)
        layer = self.options["layer"]
        n = ctx.scaled(pairs)
        chans = ctx.choose_channels(layer, 2 * n)
        if chans is None:
            return None
        return [((layer, chans[2 * i]), (layer, chans[2 * i + 1])) for i in range(len(chans) // 2)]

    def row_job(self, ctx: PlanContext, a: tuple[str, int], b: tuple[str, int]) -> VisJob:
        """One row's frames, each (1 - t) a + t b plus the alignment term. An endpoint flat at
        the start is led wherever it has a weight, as in its own picture (`PlanContext.led`),
        the other left as it is: unled, every frame would show the other endpoint alone, and
        the row would interpolate from nothing; a lead adds no value, so each frame's objective
        is the mix shown."""
        n = self.options["frames"]
        objectives = []
        for k in range(n):
            t = k / (n - 1)
            o = obj.alignment(a[0]) * self.options["alignment"]
            if t < 1:
                o = (1 - t) * ctx.led(*a) + o
            if t > 0:
                o = o + t * ctx.led(*b)
            objectives.append(o)
        return ctx.job(objectives, param=ParamSpec(shared=True))

    def _survey(self, ctx: PlanContext) -> list[VisJob]:
        return ctx.survey_jobs(self.options["layer"], 2 * ctx.scaled(self.options["pairs"]))

    def needs(self, ctx: PlanContext) -> list[VisJob]:
        pairs = self.pairs(ctx)
        if pairs is None:
            return self._survey(ctx)
        return [self.row_job(ctx, a, b) for a, b in pairs]

    def number_keys(self) -> tuple[str, ...]:
        return ("rows", "frames")

    def numbers(self, ctx: DrawContext) -> dict[str, Any]:
        return {"rows": len(self.view(ctx)["rows"]), "frames": self.options["frames"]}

    def view(self, ctx: DrawContext) -> dict[str, Any]:
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
