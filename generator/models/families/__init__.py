"""Model families: each one module that turns a model id into a network and its catalog plan.

A family is a `Family`: how its ids are written (an `IdForm` of `generator.config.model_ids`,
which checks ids without torch) and a `build` function; `generator.models.zoo` lists every family
in one place. `build(name, options)` returns a `Built`: the network with its
weights loaded (or seeded random ones), where the weights came from, the input size and
normalization, which module paths form the catalog (None: the generic candidates), optional
layers, how to name them, and a short description of the architecture that articles can quote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from generator.config.model_ids import IdForm

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class LoadOptions:
    """What the user asked for, the same for every family."""

    weights: str | None = None
    random_weights: bool = False
    input_size: int | None = None  # a transformer is built for it (its patch grid follows)
    input_shape: tuple[int, int] | None = None  # a non-square (height, width) asked for
    root: Path = field(default_factory=Path.cwd)  # relative `python:` files are read from here


@dataclass(frozen=True)
class Built:
    net: nn.Module
    source: str  # where the weights came from: a file, a package, a pretrained tag, "random"
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    paths: tuple[str, ...] | None = None  # the catalog's module paths; None: the candidates
    optional: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()  # (module path, catalog name)
    prefix_tokens: int | None = None  # tokens before the patch grid (transformers)
    imagenet: bool = True  # the head names ImageNet's 1000 classes
    description: str = ""
    code: str = ""  # sha256 of the source file that builds the network (a user's factory)


@dataclass(frozen=True)
class Family:
    ids: IdForm  # how an id of this family is written
    build: Callable[[str, LoadOptions], Built]

    @property
    def name(self) -> str:
        return self.ids.family
