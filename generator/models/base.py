"""What the rest of featvis knows about a network: `LoadedModel` and its layer catalog.

A `LoadedModel` is an eval-mode network with frozen parameters, its input preprocessing (from [0,1]
RGB to what the network expects), ImageNet class names and a catalog of visualizable layers, each
with its channel count, spatial size at the model's input size, depth and band.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from generator.core.errors import FeatvisError, choices_hint

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


@dataclass
class LoadedModel:
    id: str
    net: nn.Module
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    layers: tuple[LayerInfo, ...]
    class_names: tuple[str, ...]
    weights_digest: str
    weights_source: str
    _by_name: dict[str, LayerInfo] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_name = {layer.name: layer for layer in self.layers}

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """[0,1] RGB images (B,3,H,W) -> network input."""
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x - mean) / std

    def read(self, images: torch.Tensor, k: int = 5) -> list[list[tuple[int, float]]]:
        """The model's k most likely classes, (index, probability), for each [0,1] RGB image
        (B,3,H,W), resized to the input size as a whole; [] for each when it names no classes or
        its output is not one logit per named class (a head trained on another label set)."""
        unread: list[list[tuple[int, float]]] = [[] for _ in range(images.shape[0])]
        if not self.class_names:
            return unread
        x = images.to(self.device, torch.float32)
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(
                x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False
            )
        with torch.no_grad():
            logits = self.net(self.preprocess(x))
        expected = (x.shape[0], len(self.class_names))
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
        """A class given by index or by (case-insensitive) name."""
        if isinstance(name_or_index, int) or str(name_or_index).isdigit():
            index = int(name_or_index)
            if not 0 <= index < len(self.class_names):
                raise FeatvisError(
                    f"model '{self.id}': class {index} out of range "
                    f"(valid: 0..{len(self.class_names) - 1})"
                )
            return index
        lowered = [c.lower() for c in self.class_names]
        key = str(name_or_index).lower()
        if key in lowered:
            return lowered.index(key)
        raise FeatvisError(
            f"model '{self.id}': unknown class '{name_or_index}' ({choices_hint(key, lowered)})"
        )

    def to(self, device: torch.device) -> LoadedModel:
        self.net.to(device)
        return self


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


def band_for(depth: int, count: int) -> str:
    """The article's five bands, spread evenly over the layers in forward order."""
    return BANDS[min(len(BANDS) - 1, depth * len(BANDS) // max(count, 1))]


def candidate_paths(root: nn.Module) -> list[str]:
    """Module paths worth visualizing: blocks, composite stems and post-activation leaves."""
    paths: list[str] = []

    def visit(container: nn.Module, prefix: str) -> None:
        for name, child in container.named_children():
            path = f"{prefix}{name}"
            kids = list(child.children())
            if isinstance(child, (nn.Sequential, nn.ModuleList)):
                if kids and all(not list(k.children()) for k in kids):
                    paths.extend(
                        f"{path}.{n}"
                        for n, k in child.named_children()
                        if isinstance(k, _ACTIVATIONS)
                    )
                else:
                    visit(child, path + ".")
            elif kids:
                paths.append(path)
            elif isinstance(child, _ACTIVATIONS):
                paths.append(path)

    visit(root, "")
    return paths


@contextmanager
def capture(net: nn.Module, paths: list[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Forward hooks that record the outputs of `paths`; always removed on exit."""
    modules = dict(net.named_modules())
    store: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for path in paths:

            def hook(_m: nn.Module, _i: object, out: object, path: str = path) -> None:
                if isinstance(out, torch.Tensor):
                    store[path] = out

            handles.append(modules[path].register_forward_hook(hook))
        yield store
    finally:
        for h in handles:
            h.remove()


def build_catalog(
    net: nn.Module,
    input_size: int,
    paths: list[str] | None = None,
    rename: Callable[[str], str] = lambda p: p,
) -> tuple[LayerInfo, ...]:
    """Probe one forward pass and keep the candidates with a spatial 4-D output."""
    paths = candidate_paths(net) if paths is None else paths
    device = next(net.parameters()).device
    with torch.no_grad(), capture(net, paths) as store:
        net(torch.zeros(1, 3, input_size, input_size, device=device))
    kept = [p for p in paths if p in store and store[p].dim() == 4 and store[p].shape[-1] > 1]
    return tuple(
        LayerInfo(
            name=rename(p),
            module_path=p,
            channels=int(store[p].shape[1]),
            height=int(store[p].shape[2]),
            width=int(store[p].shape[3]),
            depth=i,
            band=band_for(i, len(kept)),
        )
        for i, p in enumerate(kept)
    )
