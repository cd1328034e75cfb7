"""What the rest of featvis knows about a network: `LoadedModel` and its layer catalog.

A `LoadedModel` is an eval-mode network with frozen parameters, its input preprocessing (from [0,1]
RGB to what the network expects, resized first for a network that takes one input size only), its
class names and a catalog of visualizable layers, each with its channel count, spatial size at the
model's input size, depth (forward order) and band. `optional_layers` (a transformer's MLP hidden
units) resolve through `layer()` but are not in `layers`; `description` is a sentence or two on the
architecture for articles to quote. Catalogs are built in `catalog`, hooks live in `hooks`.

A network of grey input (its first layer takes one channel, `input_channels == 1`) sees the
luminance of what it is given: `see_luminance` puts the conversion at the network's own entrance
(a forward pre-hook on its root module), so every forward pass, the optimizer's, the dataset
scan's and every measure's, converts RGB once, in one place, and the rest of featvis hands every
network (B, 3, H, W) pictures. Its `mean` and `std` are one value each; normalizing the three
channels by one value and then taking the luminance is normalizing the luminance, since the
luminance weights sum to 1.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from generator.core.errors import FeatvisError, choices_hint
from generator.core.images import luminance
from generator.core.urls import model_slug
from generator.models.hooks import Layout, capture

# A picture size: one side (a square), or (height, width).
Size = int | tuple[int, int]


def sides(size: Size) -> tuple[int, int]:
    """(height, width) of a picture size."""
    return (size, size) if isinstance(size, int) else (size[0], size[1])


__all__ = ["BANDS", "LayerInfo", "LoadedModel", "band_for", "capture", "freeze", "network_digest",
           "see_luminance", "state_digest"]

BANDS = ("edges", "textures", "patterns", "parts", "objects")

_ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.SiLU,
    nn.GELU,
    nn.Hardswish,
    nn.LeakyReLU,
    nn.ELU,
    nn.Mish,
    nn.PReLU,
)


@dataclass(frozen=True)
class LayerInfo:
    """One visualizable layer: `name` as users write it, `module_path` where the hook goes."""

    name: str
    module_path: str
    channels: int
    height: int
    width: int
    depth: int
    band: str
    optional: bool = False  # shown only when asked for (a transformer's MLP hidden units)
    # how the module's raw output becomes (B, C, H, W): None for a feature map, else
    # `ChannelsLast` or a `TokenGrid` (`generator.models.hooks.lay_out`)
    layout: Layout | None = None
    # the place in the main catalog, from 0 (an optional layer: that of the block it sits in);
    # `depth` is the forward order over main and optional layers together
    position: int = 0


@dataclass
class LoadedModel:
    id: str
    net: nn.Module
    input_size: int
    mean: tuple[float, ...]  # one value per input channel: 3 (R, G, B), or 1 for a grey network
    std: tuple[float, ...]
    layers: tuple[LayerInfo, ...]
    class_names: tuple[str, ...]
    weights_digest: str
    weights_source: str
    family: str = ""
    description: str = ""  # a sentence or two on the architecture, for articles to quote
    optional_layers: tuple[LayerInfo, ...] = ()
    fixed_input: bool = False  # the network takes `input_shape` only (found by probing)
    # (H, W) of a network that takes one non-square size only (site.toml's `input_size = [H,
    # W]`): every picture is stretched to it in `preprocess`; `input_size` is then max(H, W), the
    # square side photos and visualizations are made at. (0, 0): the square `input_size`.
    input_shape: tuple[int, int] = (0, 0)
    min_input: int = 0  # smaller pictures are enlarged to this size first (0: any size runs)
    input_multiple: int = 1  # pictures are enlarged to a multiple of this (HRNet's: 32)
    name: str = ""  # how pages name it (site.toml's `name`; "": the id)
    slug: str = ""  # its explorer folder (`model_slug` of site.toml's `name`; "": of the id)
    # how many logits its head gives (0: not one logit per class; a head without class names
    # still has classes, named by index: `class_name`)
    classes: int = 0
    # the channels its first layer takes: 3 (RGB), or 1 (grey: it sees the luminance of the
    # RGB pictures it is given, `see_luminance`, and its visualizations are grey)
    input_channels: int = 3
    # What the network computes from a [0,1] picture: `weights_digest`, extended by a hash of every
    # setting that changes what it sees when one differs from its family's (`network_digest`).
    # Every cache keys by it; empty: the weights digest.
    digest: str = ""
    _by_name: dict[str, LayerInfo] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_name = {layer.name: layer for layer in self.optional_layers + self.layers}
        self.digest = self.digest or self.weights_digest
        self.slug = self.slug or model_slug(self.id)
        self.classes = self.classes or len(self.class_names)
        self.input_shape = self.input_shape if all(self.input_shape) else sides(self.input_size)

    @property
    def untrained(self) -> bool:
        """Random weights (`random_weights`), drawn from a seed: nothing learned."""
        return self.weights_source.startswith("random")

    @property
    def read_outputs(self) -> int:
        """How many outputs a reading of the model names (`read`): one per class name; an
        untrained network without class names every output, by number ("output 207": its
        outputs are classes of nothing); 0 for a trained head whose classes have no names."""
        return len(self.class_names) or (self.classes if self.untrained else 0)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    @property
    def grey(self) -> bool:
        """Whether the network sees grey pictures (the luminance of what it is given)."""
        return self.input_channels == 1

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """[0,1] RGB images (B,3,H,W) -> network input (resized first to the size the network
        takes: `resized`; a grey network's entrance takes the luminance, `see_luminance`)."""
        x = self.resized(x)
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        return (x - mean) / std

    def resized(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B,C,H,W) at the size they reach the network at (differentiably): stretched to
        `input_shape` for a network that takes no other, enlarged to at least `min_input` for
        one that rejects smaller pictures and to the next multiple of `input_multiple` for one
        that takes multiples only, else as they are."""
        height, width = x.shape[-2:]
        if self.fixed_input:
            height, width = self.input_shape
        else:
            if min(height, width) < self.min_input:
                scale = self.min_input / min(height, width)
                height, width = math.ceil(height * scale), math.ceil(width * scale)
            step = max(1, self.input_multiple)
            height, width = -(-height // step) * step, -(-width // step) * step
        if x.shape[-2:] != (height, width):
            x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
        return x

    def read(self, images: torch.Tensor, k: int = 5) -> list[list[tuple[int, float]]]:
        """The model's k most likely classes, (index, probability), for each [0,1] RGB image
        (B,3,H,W), resized to the input size (`input_shape`) as a whole; [] for each when it
        reads no outputs (`read_outputs`) or its output is not one logit per named class (a head
        trained on another label set)."""
        unread: list[list[tuple[int, float]]] = [[] for _ in range(images.shape[0])]
        if not self.read_outputs:
            return unread
        x = images.to(self.device, torch.float32)
        if x.shape[-2:] != self.input_shape:
            x = F.interpolate(x, size=self.input_shape, mode="bilinear", align_corners=False)
        with torch.no_grad():
            logits = self.net(self.preprocess(x))
        expected = (x.shape[0], self.read_outputs)
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != expected:
            return unread
        probs = logits.float().softmax(dim=1).cpu()
        top = probs.topk(min(k, probs.shape[1]), dim=1)
        return [
            list(zip(idx.tolist(), p.tolist(), strict=True))
            for idx, p in zip(top.indices, top.values, strict=True)
        ]

    def layer(self, name: str) -> LayerInfo:
        try:
            return self._by_name[name]
        except KeyError:
            raise FeatvisError(
                f"model '{self.id}': unknown layer '{name}' "
                f"({choices_hint(name, self.layer_names)})"
            ) from None

    def check_channel(self, layer: str, channel: int) -> None:
        info = self.layer(layer)
        if not 0 <= channel < info.channels:
            raise FeatvisError(
                f"model '{self.id}': channel {channel} out of range for layer '{layer}' "
                f"(valid: 0..{info.channels - 1})"
            )

    def class_index(self, name_or_index: str | int) -> int:
        """A class given by index or by name: the one class of that exact name, else of that name
        in any case. A name that several classes share is refused, naming their indices
        (label sets repeat names: ImageNet's has Cardigan the dog and cardigan the sweater, and
        some copies list crane and maillot twice)."""
        if isinstance(name_or_index, int) or str(name_or_index).isdigit():
            index = int(name_or_index)
            if not 0 <= index < self.classes:
                valid = f"valid: 0..{self.classes - 1}" if self.classes else "its output has none"
                raise FeatvisError(f"model '{self.id}': class {index} out of range ({valid})")
            return index
        name = str(name_or_index)
        if not self.class_names:
            what = "an untrained network's outputs" if self.untrained else "its classes"
            raise FeatvisError(
                f"model '{self.id}': unknown class '{name}': {what} have no names (give an "
                f"index, 0..{max(self.classes - 1, 0)}, or class names with `classes` in "
                "site.toml)"
            )
        exact = [i for i, c in enumerate(self.class_names) if c == name]
        found = exact or [i for i, c in enumerate(self.class_names) if c.lower() == name.lower()]
        if len(found) == 1:
            return found[0]
        if found:
            listed = ", ".join(f"{i} ({self.class_names[i]})" for i in found)
            raise FeatvisError(
                f"model '{self.id}': class '{name}' names {len(found)} classes: {listed}; "
                "give its index instead"
            )
        lowered = [c.lower() for c in self.class_names]
        raise FeatvisError(  # a class of the network's output, not a folder of the photos
            f"model '{self.id}': unknown class '{name}': not one of the model's "
            f"{self.classes} output classes ({choices_hint(name.lower(), lowered)})"
        )

    def class_name(self, index: int) -> str:
        """The class's name; without names "class N", or "output N" for an untrained network."""
        if index < len(self.class_names):
            return self.class_names[index]
        return f"output {index}" if self.untrained else f"class {index}"

    def to(self, device: torch.device) -> LoadedModel:
        self.net.to(device)
        return self


def _luminance_input(_module: nn.Module, args: tuple[object, ...]) -> tuple[object, ...] | None:
    """A forward pre-hook: an RGB batch (B, 3, H, W) becomes its luminance (B, 1, H, W)."""
    x = args[0] if args else None
    if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == 3:
        return (luminance(x), *args[1:])
    return None


def see_luminance(net: nn.Module) -> nn.Module:
    """`net`, a network of grey input, taking RGB pictures: the luminance of each goes in."""
    net.register_forward_pre_hook(_luminance_input)
    return net


def freeze(net: nn.Module) -> nn.Module:
    """Eval mode, no parameter gradients, and no in-place activations: an in-place ReLU would
    overwrite a hooked pre-activation tensor (and gradients need the originals anyway)."""
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    for module in net.modules():
        if getattr(module, "inplace", False) is True:
            module.inplace = False  # type: ignore[assignment]
    return net


# What a block multiplies its residual branch by, where an architecture starts it at zero
# (NFNet's `skipinit_gain`, ReZero's `alpha`, a layer scale's `gamma`)
_GAINS = ("gain", "gamma", "alpha", "scale")
OFF = 1e-3  # a gain under this, the same for every channel, starts its branch switched off


def redraw_zero_weights(net: nn.Module) -> nn.Module:
    """`net` with each weight its architecture starts at zero drawn again by PyTorch's default
    initialization, from the global generator: a layer's weight matrix (torchvision's ViT
    head: an untrained network whose output would not depend on its input gets one that does),
    a norm's gain (timm's ResNets, LeViT, EfficientViT: the norm that ends each residual branch)
    back to ones, and a block's own gain on its branch started at 0 or about 0 (NFNet's
    `skipinit_gain`, ConvNeXt's and DeiT III's layer scale) set to one: an untrained block
    whose branch starts switched off is the identity, and its pictures were its input's, layer
    after layer."""
    for module in net.modules():
        weight = getattr(module, "weight", None)
        reset = getattr(module, "reset_parameters", None)
        if isinstance(weight, torch.Tensor) and weight.dim() >= 1 and callable(reset):
            if not bool(weight.detach().any()):
                reset()
        for name, param in module.named_parameters(recurse=False):
            gain = name != "weight" and any(word in name.lower() for word in _GAINS)
            if gain and _switched_off(param):
                with torch.no_grad():
                    param.fill_(1.0)
    return net


def _switched_off(param: torch.Tensor) -> bool:
    """Whether `param`, a scalar or a vector (however shaped: torchvision's (C, 1, 1) layer
    scale), holds one value of magnitude under `OFF` throughout: 0 (a skip-init gain) or a
    layer scale's 1e-6 (ConvNeXt's, DeiT III's), which leaves the block all but the identity."""
    values = param.detach().reshape(-1)
    if not values.numel() or values.numel() != max(param.shape, default=1):
        return False
    return bool((values == values[0]).all()) and float(values[0].abs()) < OFF


BLIND = 1e-4  # two noise images' outputs closer than this: the network does not tell them apart


def ignores_input(net: nn.Module, size: Size) -> bool:
    """Whether `net` gives two seeded noise images the same output, or outputs less than `BLIND`
    apart: an untrained network whose activations vanish with depth (torchvision's MobileNetV2
    and EfficientNet give differences of 1e-10 and 1e-14). False when its forward fails or
    returns no tensor: the catalog's probe reports that."""
    images = torch.rand(2, 3, *sides(size), generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad():
            out = net.eval()(images)
    except Exception:  # noqa: BLE001 - whatever the forward raises is reported by the probe
        return False
    return isinstance(out, torch.Tensor) and float((out[0] - out[1]).abs().max()) < BLIND


def calibrate_norms(net: nn.Module, size: Size, images: int = 8) -> nn.Module:
    """`net` with its batch norms' running statistics measured on seeded noise images: an
    untrained network whose initialization (GoogLeNet's, 0.01-wide weights) leaves its eval-mode
    activations vanishing gets normalized ones."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the pass
    noise = torch.rand(images, 3, *sides(size), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        net.train()(noise)
    for norm in norms:
        norm.momentum = 0.1
    return net.eval()


def state_digest(net: nn.Module) -> str:
    """A stable digest of the network's weights (names, shapes and bytes)."""
    h = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(str(t.dtype).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def network_digest(weights_digest: str, settings: dict[str, object]) -> str:
    """`weights_digest` with the settings that change what the network sees (normalization, input
    size, the shown modules, a factory's source) hashed on: unchanged when there are none, so the
    keys of a model used as its family ships it stay what they were."""
    if not settings:
        return weights_digest
    payload = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return f"{weights_digest}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


def band_for(depth: int, count: int) -> str:
    """The article's five bands, spread evenly over the layers in forward order."""
    return BANDS[min(len(BANDS) - 1, depth * len(BANDS) // max(count, 1))]
