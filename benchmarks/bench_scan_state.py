"""The running state a dataset scan keeps beside its tables (what a grown folder's scan goes on
from): the scan of a photo folder with EfficientNet-Lite0, every layer, into a fresh cache, then
the size of its `state/` files against the rest of the scan, and the largest layers'.

    PYTHONPATH=. python benchmarks/bench_scan_state.py [--photos DIR] [--top-k 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "imagenet-sample"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=SAMPLE, help="the photo folder")
    parser.add_argument("--top-k", type=int, default=8, help="dataset_top_k (default 8)")
    args = parser.parse_args()
    from generator.dataset.scan import load_or_scan
    from generator.models import load_model

    model = load_model("efficientnet_lite0", device="cpu")
    with tempfile.TemporaryDirectory(prefix="bench-scan-state-") as tmp:
        config = SimpleNamespace(dataset=args.photos, cache_dir=Path(tmp))
        start = time.perf_counter()
        index = load_or_scan(config, model, model.layer_names, top_k=args.top_k, progress=False)
        assert index is not None
        seconds = time.perf_counter() - start
        folder = next((Path(tmp) / "dataset").iterdir())
        state = [p for p in (folder / "state").rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in state)
        rest = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) - size
        print(f"{index.summary.images_read} photos, {len(model.layer_names)} layers, "
              f"{seconds:.0f} s: running state {size / 1e6:.1f} MB in {len(state)} files, "
              f"the rest of the scan {rest / 1e6:.1f} MB")
        for path in sorted(state, key=lambda p: -p.stat().st_size)[:3]:
            print(f"  {path.name}: {path.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
