"""Batch norms folded into the convolutions before them: the same network, fewer modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from generator.models import LoadedModel, load_model
from generator.models.base import freeze
from generator.models.fold import FoldedNorm, fold_batch_norms
from generator.optvis.render import truncated_forward


def _norm(channels: int, seed: int) -> nn.BatchNorm2d:
    """A batch norm with running statistics and an affine part far from the identity."""
    gen = torch.Generator().manual_seed(seed)
    norm = nn.BatchNorm2d(channels)
    norm.running_mean.copy_(torch.randn(channels, generator=gen))
    norm.running_var.copy_(torch.rand(channels, generator=gen) + 0.5)
    norm.weight.data.copy_(torch.randn(channels, generator=gen))
    norm.bias.data.copy_(torch.randn(channels, generator=gen))
    return norm


def _layers(model: LoadedModel, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Every catalog layer's activation and the input gradient of their summed means."""
    x = x.clone().requires_grad_(True)
    names = [info.name for info in model.layers]
    with truncated_forward(model, names) as (acts, run):
        run(x)
        values = {name: acts[name].detach().clone() for name in names}
        total = sum(acts[name].mean() for name in names)
        (grad,) = torch.autograd.grad(total, x)  # type: ignore[arg-type]
    return values, grad


@pytest.mark.parametrize("spec", ["efficientnet_lite0", "torchvision:resnet18"])
def test_folded_network_is_the_same_function_with_no_norm_left(spec: str) -> None:
    kwargs = {} if spec == "efficientnet_lite0" else {"random_weights": True, "input_size": 64}
    folded = load_model(spec, **kwargs)
    loaded = load_model(spec, fold_norms=False, **kwargs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.net.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in loaded.net.modules()) > 10
    assert folded.weights_digest == loaded.weights_digest  # cache keys do not move
    assert [i.module_path for i in folded.layers] == [i.module_path for i in loaded.layers]
    x = torch.rand(2, 3, folded.input_size, folded.input_size,
                   generator=torch.Generator().manual_seed(3))
    a, grad_a = _layers(folded, x)
    b, grad_b = _layers(loaded, x)
    # measured over kernel paths and thread counts (benchmarks/results/tolerances.md): activations
    # 4.6e-6 of the scale at most, the gradient's mean difference 6.9e-4 of its mean, 1 - cosine
    # 3e-7; each bound 14x or more above, for processors not measured
    for name in b:
        scale = float(b[name].abs().max())
        torch.testing.assert_close(a[name], b[name], atol=1e-4 * scale, rtol=0)
    # The gradient too, up to the few units that float rounding moves across a ReLU6's kink.
    assert float((grad_a - grad_b).abs().mean()) < 1e-2 * float(grad_b.abs().mean())
    cosine = nn.functional.cosine_similarity(grad_a.flatten(), grad_b.flatten(), dim=0)
    assert float(cosine) > 0.9999


def test_lite0_keeps_the_hooked_dropout_of_its_stem_and_head() -> None:
    """Lite0's stem and head layers hook `bn1.drop` / `bn2.drop` inside timm's BatchNormAct2d:
    what replaces the norm keeps them under the same names."""
    model = load_model("efficientnet_lite0")
    assert isinstance(model.net.bn1, FoldedNorm) and isinstance(model.net.bn2, FoldedNorm)
    assert model.layer("conv_stem").module_path == "bn1.drop"
    assert model.net.conv_stem.bias is not None and not model.net.conv_stem.bias.requires_grad


class _Skip(nn.Module):
    """A convolution whose output is read twice: by its norm and by the sum after it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = _norm(4, 1)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.head(self.norm(y) + y)


class _Plain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = _norm(4, 2)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.norm2 = _norm(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm2(self.conv2(self.act(self.norm(self.conv(x)))))


def test_a_convolution_read_elsewhere_too_puts_everything_back() -> None:
    net = freeze(_Skip())
    x = torch.rand(1, 3, 8, 8)
    before = net(x)
    assert fold_batch_norms(net, x, ["head"]) == 0
    assert isinstance(net.norm, nn.BatchNorm2d) and net.conv.bias is not None
    torch.testing.assert_close(net(x), before, atol=0, rtol=0)


def test_a_shown_convolution_keeps_its_norm_apart() -> None:
    net = freeze(_Plain())
    x = torch.rand(1, 3, 8, 8)
    before = net(x)
    assert fold_batch_norms(net, x, ["conv", "act"]) == 1  # conv's own values are a layer
    assert isinstance(net.norm, nn.BatchNorm2d) and isinstance(net.norm2, nn.Identity)
    torch.testing.assert_close(net(x), before, atol=1e-5, rtol=1e-5)


def test_a_norm_that_uses_batch_statistics_is_not_folded() -> None:
    net = _Plain()
    net.norm2 = nn.BatchNorm2d(4, track_running_stats=False)
    net = freeze(net)
    x = torch.rand(2, 3, 8, 8)
    assert fold_batch_norms(net, x, ["act"]) == 1
    assert isinstance(net.norm, nn.Identity) and isinstance(net.norm2, nn.BatchNorm2d)
