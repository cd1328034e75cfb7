"""`python -m generator.dataset.spectrum FOLDER`: measure the natural magnitude spectrum that MACO's
parameterization uses (`generator.optvis.spectrum`) from a folder of photos, and write the table
that ships beside that module."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from generator.dataset.folder import list_images, load_view
from generator.optvis.spectrum import SPECTRUM_FILE, measure


def main() -> None:
    ap = argparse.ArgumentParser(description="measure the natural magnitude spectrum")
    ap.add_argument("folder", type=Path)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=SPECTRUM_FILE)
    args = ap.parse_args()
    files = list_images(args.folder)[: args.limit]
    table = measure([load_view(args.folder / name, args.size) for name in files], args.size)
    args.out.write_text(json.dumps(table) + "\n", encoding="utf-8")
    print(f"{args.out}: {table['photos']} photos at {args.size} px")


if __name__ == "__main__":
    main()
