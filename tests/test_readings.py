"""Class readings show small probabilities with the digits they need, never a false 0%."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from generator.config.site import SiteConfig
from generator.pages.markdown import format_probability
from generator.site.env import make_env


def test_small_probabilities_keep_their_digits() -> None:
    assert format_probability(0.37) == "37%" and format_probability(1.0) == "100%"
    assert format_probability(0.001) == "0.1%"  # uniform over 1000 classes
    assert format_probability(0.0042) == "0.4%" and format_probability(0.0099) == "1%"
    assert format_probability(0.0004) == "<0.1%" and format_probability(0.0) == "0%"


def test_reading_of_a_random_network_is_not_zero() -> None:
    env = make_env(SiteConfig(root=Path(".")))
    macro = env.from_string('{% import "macros.html" as m %}{{ m.reading(r) }}')
    reading = SimpleNamespace(
        meets=False, photo_file="a.jpg", picture=[("goldfish", 0.001), ("tench", 0.0004)],
        photo=("tench", 0.0011), among=5,
    )
    html = macro.render(r=reading)
    assert "goldfish 0.1%" in html and "tench &lt;0.1%" in html and "top photo: tench 0.1%" in html
    assert " 0%" not in html


def test_a_picture_that_excites_its_unit_less_than_its_start_says_so() -> None:
    """An untrained network's channel can respond most to a flat image: the optimizer then ends
    below the objective of its first step (the noise it started from), and the numbers under the
    picture say so; one that rose shows its objective alone, a diversity image its activation."""
    from generator.figures.context import ImageView, _fell

    assert _fell([-0.026, -0.2, -0.43], -0.502) == -0.026
    assert _fell([0.1, 2.0], 3.0) is None and _fell([], 1.0) is None
    assert _fell([None, 1.0], 0.5) is None and _fell([0.1], None) is None
    env = make_env(SiteConfig(root=Path(".")))
    macro = env.from_string('{% import "macros.html" as m %}{{ m.stats(v) }}')
    fell = macro.render(v=ImageView("a.png", "alt", objective=-0.502, fell=-0.026))
    assert 'class="fell"' in fell and "obj -0.502 &lt; start -0.026" in fell, fell
    rose = macro.render(v=ImageView("a.png", "alt", objective=3.0))
    assert "obj 3" in rose and "start" not in rose and "fell" not in rose, rose
    act = macro.render(v=ImageView("a.png", "alt", objective=2.26, measure="act"))
    assert ">act 2.26<" in act and ">obj " not in act, act


def test_a_negative_shows_its_channel_lowered_not_its_negated_objective() -> None:
    """A negative minimizes its channel through the objective -channel: beside it a reader sees
    the channel's own mean activation (not the objective, whose sign is flipped), and where the
    channel ended above its value on the starting image, that it was not lowered."""
    from generator.figures.channels import minimized, shown_value
    from generator.figures.context import ImageView
    from generator.jobs import VisJob
    from generator.optvis import objectives as obj

    pair = (obj.channel("a", 3), -obj.channel("a_pre", 3))
    job = VisJob(model="m", weights_digest="d", objectives=pair)
    assert minimized(job, 0) is None and minimized(job, 1) == -1.0
    sidecar = SimpleNamespace(final=(2.5, 1.75), unit=None)  # what shown_value reads of one
    assert shown_value(job, sidecar, 0) == (2.5, "obj")
    assert shown_value(job, sidecar, 1) == (-1.75, "low")
    env = make_env(SiteConfig(root=Path(".")))
    macro = env.from_string('{% import "macros.html" as m %}{{ m.stats(v) }}')
    low = macro.render(v=ImageView("a.png", "alt", objective=-1.75, measure="low"))
    assert ">act -1.75<" in low and "minimizes" in low and "obj" not in low, low
    up = macro.render(v=ImageView("a.png", "alt", objective=0.4, measure="low", fell=0.1))
    assert "act 0.4 &gt; start 0.1" in up and "did not lower" in up and "raise" not in up, up


def test_only_a_unit_left_at_0_shows_nothing() -> None:
    """A channel or neuron at 0 after the optimization (a ReLU's floor, as at the start) shows
    nothing of it, and says so; a class probability's log at 0 is a saturated probability of 1
    (Inception v3's class 998 at 80 px), which says no such thing."""
    from generator.figures.channels import shows_nothing
    from generator.figures.context import ImageView
    from generator.jobs import VisJob
    from generator.optvis import objectives as obj

    def job(*objectives: obj.Objective) -> VisJob:
        return VisJob(model="m", weights_digest="d", objectives=objectives)

    assert shows_nothing(job(obj.channel("a", 3)), 0, 0.0)
    assert shows_nothing(job(obj.neuron("a", 3)), 0, 0.0)
    assert not shows_nothing(job(obj.channel("a", 3)), 0, 0.2)
    assert not shows_nothing(job(obj.class_prob(998)), 0, 0.0)
    assert not shows_nothing(job(obj.class_logit(998)), 0, None)
    env = make_env(SiteConfig(root=Path(".")))
    macro = env.from_string('{% import "macros.html" as m %}{{ m.unmoved(v) }}')
    assert "left at 0" in macro.render(v=ImageView("a.png", "alt", objective=0.0, unmoved=True))
    assert "left at 0" not in macro.render(v=ImageView("a.png", "alt", objective=0.0))


def test_a_reading_among_few_classes_counts_only_the_likeliest_fifth() -> None:
    """Among 5 classes every class is in a picture's five likeliest, so a count of channels whose
    top photo's class is among them says nothing ("named 6/6" on every layer): a network of
    fewer than 25 classes counts its likeliest fifth (at least the one likeliest), and the pages
    say how many; a network of many classes keeps the five."""
    from torch import nn

    from generator.dataset.checks import class_reading, likeliest, reading_top
    from generator.models.base import LoadedModel

    def model(names: tuple[str, ...]) -> LoadedModel:
        return LoadedModel(
            id="m", net=nn.Identity(), input_size=8, mean=(0.0,) * 3, std=(1.0,) * 3,
            layers=(), class_names=names, weights_digest="d", weights_source="test",
        )

    picture = [(0, 0.5), (3, 0.2), (1, 0.1), (2, 0.1), (4, 0.1)]  # every class of five
    few = class_reading(model(("dog", "bird", "car", "fish", "food")), picture, (3, 0.9), "a.jpg")
    assert few is not None and few.among == 1 and not few.meets  # fish is second, not first
    many = class_reading(model(tuple(f"c{i}" for i in range(1000))), picture, (3, 0.9), "a.jpg")
    assert many is not None and many.among == 5 and many.meets
    assert [reading_top(n) for n in (2, 5, 10, 24, 25, 1000)] == [1, 1, 2, 4, 5, 5]
    assert likeliest(5) == "five likeliest" and likeliest(1) == "single likeliest"
    env = make_env(SiteConfig(root=Path(".")))
    macro = env.from_string('{% import "macros.html" as m %}{{ m.reading(r) }}')
    html = macro.render(r=few)
    assert "not among the image's single likeliest" in html and "five" not in html, html
