"""Counts in messages agree with their nouns and verbs."""

from __future__ import annotations

from generator.core.notices import Notices, StrictFailure
from generator.core.words import counted, verb


def test_counted_nouns_and_verbs_agree() -> None:
    assert counted(1, "channel") == "1 channel" and counted(0, "channel") == "0 channels"
    assert counted(2, "class", "classes") == "2 classes"
    assert verb(1, "has", "have") == "has" and verb(3, "has", "have") == "have"


def test_one_strict_warning_is_singular() -> None:
    notices = Notices(strict=True)
    notices.warn("dataset", "photos: 1 photo could not be read")
    try:
        notices.check_strict("site_output")
    except StrictFailure as exc:
        assert str(exc).startswith("strict build: 1 warning (photos:"), exc
    else:
        raise AssertionError("a strict build with a warning fails")
