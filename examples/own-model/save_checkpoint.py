"""Write a checkpoint for tiny_cnn.py, as training would: `python save_checkpoint.py [OUT]`.

A stand-in for your own training run: it saves the network's state dict (seeded initial weights)
to OUT (default `tiny_cnn.pth` beside this file). featvis reads any state dict saved this way,
`.pth` or `.safetensors`, with `weights = "tiny_cnn.pth"`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_cnn import build  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("tiny_cnn.pth")
    torch.manual_seed(0)
    torch.save(build().state_dict(), out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
