"""labels.toml: a valid file maps channels to labels; every mistake is one line naming file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.atlas.labels import read_labels
from generator.core.errors import FeatvisError

LAYERS = {"conv_stem": 32, "blocks.4.2": 112, "conv_head": 1280}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labels.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_labels_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '# my labels\n"blocks.4.2:70" = "eyes, front view"\n\n'
        "'conv_head:1279' = \"  dog snouts \"\n",
    )
    assert read_labels(path, LAYERS) == {
        ("blocks.4.2", 70): "eyes, front view",
        ("conv_head", 1279): "dog snouts",
    }


def test_missing_file_is_no_labels(tmp_path: Path) -> None:
    assert read_labels(tmp_path / "labels.toml", LAYERS) == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"conv_stem:1" = "a"\n"blocks.4.2:70" = eyes\n', r"labels.toml:2: TOML syntax error"),
        ('"conv_stem:1" = "a"\n\n"conv_stem:1" = "b"\n', r"labels.toml:3: duplicate .*line 1"),
        ('"conv_stem:1" = "a"\n"conv_stem:01" = "b"\n', r"labels.toml:2: duplicate .*same channel"),
        ('"a" = "b"\n"blocks.9.9:3" = "x"\n', r"labels.toml:1: 'a' is not a channel"),
        ('\n"blocks.9.9:3" = "x"\n', r"labels.toml:2: unknown layer 'blocks.9.9' \(.*blocks.4.2"),
        ('"blocks.4.2:112" = "x"\n', r"labels.toml:1: channel 112 .*\(valid: 0..111\)"),
        ('"conv_stem:3" = ""\n', r"labels.toml:1: the label .* non-empty string"),
        ('"conv_stem:3" = 4\n', r"labels.toml:1: the label .* non-empty string"),
    ],
)
def test_mistakes_are_one_line_errors(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(FeatvisError, match=expected) as info:
        read_labels(write(tmp_path, text), LAYERS)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2
