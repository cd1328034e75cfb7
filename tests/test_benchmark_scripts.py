"""Every benchmark script still loads against the package as it is: a name moved or renamed in
`generator` (or in a sibling script a benchmark imports from) fails here, not months later when
someone reruns the benchmark."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("bench_*.py"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_benchmark_script_loads(name: str) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    assert callable(getattr(module, "main", None)), f"{name} has no main()"
