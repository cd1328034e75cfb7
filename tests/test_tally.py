"""What the caches lack, as a tally: counts of one kind add up across models, whatever the place
of the count in its phrase, and nothing missing names nothing."""

from __future__ import annotations

from generator.core.tally import Lacking


def test_counts_of_a_kind_add_up_across_models_and_none_is_nothing() -> None:
    first, second = Lacking(), Lacking()
    first.add("{} pattern check{s}", 3)
    first.add("the filters of {} layer{s}", 1)
    second.add("the filters of {} layer{s}", 2)
    second.add("{} circuit{s} between explorer layers", 0)
    total = Lacking.total([first, second])
    assert total.phrases() == ["3 pattern checks", "the filters of 3 layers"]
    assert first.phrases() == ["3 pattern checks", "the filters of 1 layer"]  # left as it was
    assert Lacking.total([Lacking(), second.copy()]).phrases() == ["the filters of 2 layers"]
    assert not Lacking() and not Lacking.total([])
