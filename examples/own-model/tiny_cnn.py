"""A small convolutional classifier: the shape of network a researcher trains on their own data.

featvis loads it with `model = "python:tiny_cnn.py:build"`: `build()` is called with no
arguments and returns the network. The layers worth showing are the stem and the residual blocks
of its three stages (`stem`, `stage1.0`, ..., `stage3.2`).
"""

from __future__ import annotations

from torch import nn


class Block(nn.Module):
    """Two 3x3 convolutions with batch norm, added to the input (projected when the width or
    the resolution changes)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):  # type: ignore[no-untyped-def]
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + self.skip(x))


class TinyCNN(nn.Module):
    def __init__(self, classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.stage1 = nn.Sequential(Block(width, width), Block(width, width))
        self.stage2 = nn.Sequential(
            Block(width, 2 * width, 2), *(Block(2 * width, 2 * width) for _ in range(2))
        )
        self.stage3 = nn.Sequential(
            Block(2 * width, 4 * width, 2), *(Block(4 * width, 4 * width) for _ in range(2))
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, classes)

    def forward(self, x):  # type: ignore[no-untyped-def]
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(self.pool(x).flatten(1))


def build() -> nn.Module:
    """TinyCNN: a 3x3 stem and three stages of 2, 3 and 3 residual blocks (16, 32 and 64
    channels), a small ResNet for 10 classes at 64 px."""
    return TinyCNN()
