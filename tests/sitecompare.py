"""Comparing two built sites: every file byte for byte, except manifest.json's `seconds` (how long
each computation took), the one number two computations of the same site never share. Standard
library only (benchmarks/bench_reliability.py imports it too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VOLATILE = "manifest.json's `seconds` (how long each computation took)"


def timeless_manifest(site: Path) -> Any:
    """manifest.json of `site` without its `seconds` entries."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "seconds"}
        return [strip(v) for v in value] if isinstance(value, list) else value

    return strip(json.loads((site / "manifest.json").read_text(encoding="utf-8")))
