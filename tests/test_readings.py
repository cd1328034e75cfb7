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
        photo=("tench", 0.0011),
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
