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
