"""Folders that live at the top of the repository and ship inside the installed package.

pyproject.toml maps templates/ to generator/templates and content/ to generator/articles in the
wheel; a checkout (an editable install included) keeps them at the repository's top.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # generator/


def shipped(in_package: str, in_checkout: str) -> Path:
    """The installed copy when there is one, else the checkout's folder."""
    installed = _PACKAGE / in_package
    return installed if installed.is_dir() else _PACKAGE.parent / in_checkout
