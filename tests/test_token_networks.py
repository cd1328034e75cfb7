"""Transformers as timm and people write them: blocks that return their tokens with the grid's size
(MViTv2's `(tokens, [height, width])`), register tokens before the patch grid, and the patch
embedding, the layer that sees the pixels. Small networks of the architectures' own shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from generator.atlas.circuits.attribution import (
    attribution_matrix,
    input_attribution_matrix,
    laid_out,
)
from generator.atlas.circuits.inputs import block_probe
from generator.models import BANDS, capture, load_model
from generator.models.hooks import TokenGrid, tensor_of, with_tensor
from generator.optvis import RenderSettings, render
from generator.optvis import objectives as obj
from generator.optvis.transforms import TransformSpec

SIZED = '''\
import torch
from torch import nn


class Embed(nn.Module):
    """A patch embedding that returns its tokens and the grid's size."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, 8, 4, 4)

    def forward(self, x):
        x = self.proj(x)
        return x.flatten(2).transpose(1, 2), [x.shape[2], x.shape[3]]


class Block(nn.Module):
    """A block of tokens that pools them by `stride` first, returning the tokens and their grid."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.stride = stride
        self.skip = nn.Linear(cin, cout)
        self.mlp = nn.Sequential(nn.Linear(cin, cout), nn.GELU(), nn.Linear(cout, cout))

    def forward(self, x, size):
        h, w = size
        if self.stride > 1:
            maps = x.transpose(1, 2).unflatten(2, (h, w))[:, :, :: self.stride, :: self.stride]
            h, w = maps.shape[2:]
            x = maps.flatten(2).transpose(1, 2)
        return self.skip(x) + self.mlp(x), (h, w)


class Stage(nn.Module):
    def __init__(self, cin, cout, depth):
        super().__init__()
        first = Block(cin, cout, 1 if cin == cout else 2)
        self.blocks = nn.ModuleList([first] + [Block(cout, cout) for _ in range(depth - 1)])

    def forward(self, x, size):
        for block in self.blocks:
            x, size = block(x, size)
        return x, size


class MViT(nn.Module):
    """MViTv2's shape: every block, stage and the patch embedding return (tokens, size)."""

    def __init__(self):
        super().__init__()
        self.patch_embed = Embed()
        self.stages = nn.ModuleList([Stage(8, 8, 1), Stage(8, 16, 2), Stage(16, 16, 2)])
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x, size = self.patch_embed(x)
        for stage in self.stages:
            x, size = stage(x, size)
        return self.head(x.mean(1))


def build():
    return MViT()


class Floored(nn.Module):
    """A residual block floored in its forward, returning its map and the map's size."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x, size):
        return torch.relu(self.conv(x) + x), size


class FlooredNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 4, 4)
        self.blocks = nn.ModuleList(Floored() for _ in range(5))
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        x = self.stem(x)
        size = x.shape[-2:]
        for block in self.blocks:
            x, size = block(x, size)
        return self.head(x.mean((2, 3)))


def floored():
    return FlooredNet()


class Branches(nn.Module):
    """CrossViT's shape: two branches of blocks side by side from the picture, met at the head."""

    def __init__(self):
        super().__init__()
        self.small = nn.Sequential(nn.Conv2d(3, 8, 4, 4), *(Floored() for _ in range(2)))
        self.large = nn.Sequential(nn.Conv2d(3, 8, 8, 8), *(Floored() for _ in range(3)))
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        size = x.shape[-2:]
        for block in self.small:
            x_small = block(x) if isinstance(block, nn.Conv2d) else block(x_small, size)[0]
        for block in self.large:
            x_large = block(x) if isinstance(block, nn.Conv2d) else block(x_large, size)[0]
        return self.head(torch.cat([x_small.mean((2, 3)), x_large.mean((2, 3))], 1))


def branches():
    return Branches()


class Nested(nn.Module):
    """TNT's block: pixel tokens, a batch per patch, and the patch tokens beside them."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(4, 4)
        self.outer = nn.Linear(8, 8)
        self.proj = nn.Linear(16, 8)

    def forward(self, pixels, patches):
        pixels = pixels + self.inner(pixels)
        b, n, _ = patches.shape
        fed = patches[:, 1:] + self.proj(pixels.reshape(b, n - 1, -1))
        fed = torch.cat([patches[:, :1], fed], 1)
        return pixels, fed + self.outer(fed)


class Tnt(nn.Module):
    def __init__(self):
        super().__init__()
        self.pixel_embed = nn.Conv2d(3, 4, 2, 2)
        self.patch_embed = nn.Conv2d(3, 8, 4, 4)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.blocks = nn.ModuleList(Nested() for _ in range(5))
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        b = len(x)
        pixels = self.pixel_embed(x).unfold(2, 2, 2).unfold(3, 2, 2)  # (B, 4, h, w, 2, 2)
        pixels = pixels.permute(0, 2, 3, 4, 5, 1).reshape(-1, 4, 4)  # (B * patches, 4, 4)
        patches = self.patch_embed(x).flatten(2).transpose(1, 2)
        patches = torch.cat([self.cls_token.expand(b, -1, -1), patches], 1)
        for block in self.blocks:
            pixels, patches = block(pixels, patches)
        return self.head(patches[:, 0])


def tnt():
    return Tnt()
'''


@pytest.fixture(scope="module")
def sized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "sized.py"
    path.write_text(SIZED, encoding="utf-8")
    return path


def test_the_tensor_of_an_output_with_its_size() -> None:
    tokens = torch.zeros(1, 4, 2)
    assert tensor_of(tokens) is tokens and tensor_of((tokens, [2, 2])) is tokens
    assert tensor_of([tokens, tokens]) is None and tensor_of((1, 2)) is None
    leaf = torch.ones(1, 4, 2)
    assert with_tensor((tokens, [2, 2]), leaf) == (leaf, [2, 2])
    assert with_tensor([[2, 2], tokens], leaf) == [[2, 2], leaf]


def test_blocks_that_return_tokens_and_their_size_are_layers(sized: Path) -> None:
    """MViTv2's blocks, stages and patch embedding return `(tokens, [height, width])`: each is a
    layer, read through its tensor by the catalog, the optimizer, the circuits and the block
    probe alike (timm's mvitv2_tiny started at `stages.1.blocks.0.mlp`: the catalog fell back to
    the MLPs inside the blocks, and had no stem and no first stage)."""
    model = load_model(f"python:{sized}:build", random_weights=True, input_size=32)
    shown = [(i.name, i.channels, i.height) for i in model.layers]
    assert shown == [
        ("patch_embed", 8, 8), ("stages.0.blocks.0", 8, 8), ("stages.1.blocks.0", 16, 4),
        ("stages.1.blocks.1", 16, 4), ("stages.2.blocks.0", 16, 4), ("stages.2.blocks.1", 16, 4),
    ], shown
    assert all(isinstance(i.layout, TokenGrid) for i in model.layers)
    assert {i.band for i in model.layers} == set(BANDS)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), capture(model.net, ["stages.1.blocks.1"]) as out:
        model.net(images)
    assert tuple(out["stages.1.blocks.1"].shape) == (2, 16, 4, 4)
    matrix = attribution_matrix(model, "stages.0.blocks.0", "stages.2.blocks.1", images)
    assert matrix.shape == (16, 8) and torch.isfinite(matrix).all() and matrix.abs().sum() > 0
    inputs = input_attribution_matrix(model, "stages.1.blocks.1", images, targets=[0, 3])
    assert inputs.shape == (2, 16) and inputs.abs().sum() > 0
    probe = block_probe(model, "stages.1.blocks.1")
    assert probe.parts[0].layer == "stages.1.blocks.0"
    settings = RenderSettings(size=32, steps=3, lr=0.05, transforms=TransformSpec.none())
    result = render(model, [obj.channel("stages.1.blocks.1", 2)], settings, seeds=0)
    assert (result.history[-1] > result.history[0]).all(), result.history


class _Mix(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc(x)


class _Registers(torch.nn.Module):
    """A person's ViT with a class token and four registers before its patch tokens (DINOv2's),
    declaring them as timm does (`num_reg_tokens`) or not at all."""

    def __init__(self, declare: bool) -> None:
        super().__init__()
        self.patch_embed = torch.nn.Conv2d(3, 8, 8, 8)
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, 8))
        self.reg_token = torch.nn.Parameter(torch.zeros(1, 4, 8))
        self.blocks = torch.nn.Sequential(*(_Mix() for _ in range(5)))
        self.head = torch.nn.Linear(8, 3)
        if declare:
            self.num_reg_tokens = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        prefix = [t.expand(len(x), -1, -1) for t in (self.cls_token, self.reg_token)]
        return self.head(self.blocks(torch.cat([*prefix, tokens], 1))[:, 0])


def test_register_tokens_are_left_out_of_the_patch_grid() -> None:
    """A class token and four registers (five prefix tokens): the blocks are laid out on the
    patch grid after them, as the network declares them, else as guessed (the guess tried 0 to 2
    prefix tokens, so such a network's blocks were no layers). At 16 px, a 2 x 2 grid and five
    prefix tokens are nine tokens, which only the declared count tells from a 3 x 3 grid."""
    from generator.models.catalog import probe_catalog

    torch.manual_seed(0)
    for declare, size, side in [(False, 32, 4), (True, 32, 4), (True, 16, 2)]:
        layers = probe_catalog(_Registers(declare).eval(), size).layers
        grids = [(i.name, i.channels, i.height, i.width, i.layout) for i in layers]
        assert grids == [
            (f"blocks.{k}", 8, side, side, TokenGrid(5, side, side)) for k in range(5)], grids
    # a timm ViT with registers: what timm says it has, at a size where a guess would not tell
    model = load_model("timm:vit_small_patch14_reg4_dinov2", random_weights=True, input_size=28)
    assert model.layers[-1].layout == TokenGrid(5, 2, 2), model.layers[-1]


def test_a_batch_per_patch_is_no_layer() -> None:
    """TNT's inner blocks run on a batch of (patches x images) of pixel tokens: shown as maps of
    one image they were the pixel tokens of 16 images; an attention's (B x heads, tokens,
    tokens) weights the same: none is a layer."""
    from generator.models.catalog import probe_catalog

    class Inner(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Conv2d(3, 4, 2, 2)
            self.pixels = _Mix2(4)
            self.outer = torch.nn.Conv2d(3, 8, 8, 8)
            self.blocks = torch.nn.Sequential(_Mix(), _Mix())
            self.head = torch.nn.Linear(12, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            pixels = self.embed(x).unfold(2, 4, 4).unfold(3, 4, 4)  # (B, 4, 4, 4, 4, 4)
            pixels = pixels.permute(0, 2, 3, 4, 5, 1).reshape(-1, 16, 4)  # (B * 16, 16, 4)
            tokens = self.blocks(self.outer(x).flatten(2).transpose(1, 2))
            inner = self.pixels(pixels).reshape(len(x), 16, 16, 4).mean((1, 2))
            return self.head(torch.cat([tokens.mean(1), inner], 1))

    names = [i.name for i in probe_catalog(Inner().eval(), 32).layers]
    assert names == ["blocks.0", "blocks.1"], names


class _Mix2(torch.nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc(x)


def test_a_block_that_floors_its_output_beside_its_size_is_minimized_before_the_floor(
    sized: Path,
) -> None:
    """A block whose forward returns `(relu(conv(x) + x), size)`: its negative is minimized at
    the input of that ReLU, as a block returning the map alone is (its output was never
    recorded, so it was minimized where no picture can go below 0)."""
    from generator.models.hooks import FLOOR
    from generator.models.preact import negative_layer

    model = load_model(f"python:{sized}:floored", random_weights=True, input_size=32)
    assert [i.name for i in model.layers] == [f"blocks.{k}" for k in range(5)]
    assert negative_layer(model, "blocks.2") == f"blocks.2{FLOOR}"
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), capture(model.net, [f"blocks.2{FLOOR}", "blocks.2"]) as out:
        model.net(images)
    assert float(out[f"blocks.2{FLOOR}"].min()) < 0 <= float(out["blocks.2"].min())
    assert torch.equal(out[f"blocks.2{FLOOR}"].clamp(min=0), out["blocks.2"])


def test_tokens_of_a_network_that_takes_any_size_are_laid_out_at_any_size(sized: Path) -> None:
    """A token network without a fixed size (PVTv2's, Twins': no position embedding of one
    grid) run at another size than its catalog's probe: its tokens lie on the grid of that size
    (every picture of a Twins site at the quick preset's size failed: "shape '[1, 64, 16, 16]'
    is invalid for input of size 4096")."""
    model = load_model(f"python:{sized}:build", random_weights=True, input_size=32)
    assert not model.fixed_input and model.layer("stages.0.blocks.0").layout == TokenGrid(0, 8, 8)
    with torch.no_grad(), capture(model.net, ["stages.0.blocks.0", "stages.2.blocks.1"]) as out:
        model.net(torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(0)))
    assert tuple(out["stages.0.blocks.0"].shape) == (2, 8, 12, 12)
    assert tuple(out["stages.2.blocks.1"].shape) == (2, 16, 6, 6)
    wide = TokenGrid(1, 2, 3)(torch.arange(1 + 24.0).view(1, 25, 1))  # 4 x 6, as 2 x 3 is
    assert tuple(wide.shape) == (1, 1, 4, 6) and float(wide[0, 0, 1, 0]) == 7.0
    settings = RenderSettings(size=48, steps=2, lr=0.05, transforms=TransformSpec.none())
    result = render(model, [obj.channel("stages.2.blocks.1", 3)], settings, seeds=0)
    assert result.images.shape[-1] == 48 and torch.isfinite(result.final).all()


def test_a_circuit_between_branches_side_by_side_is_zero(sized: Path) -> None:
    """CrossViT's two branches: the catalog orders their blocks one after the other, and the
    circuit from the small branch's last block into the large branch's first, which takes
    nothing from it, stopped the build ("element 0 of tensors does not require grad"): it is
    zero, by either strategy; a circuit within a branch is not."""
    model = load_model(f"python:{sized}:branches", random_weights=True, input_size=32)
    assert [i.name for i in model.layers] == [
        "small.1", "small.2", "large.1", "large.2", "large.3"]
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for strategy in ("loop", "batched"):
        across = attribution_matrix(model, "small.2", "large.1", images, strategy=strategy)
        assert across.shape == (8, 8) and not across.any()
        within = attribution_matrix(model, "large.1", "large.2", images, strategy=strategy)
        assert within.abs().sum() > 0


class _Mixer(torch.nn.Module):
    """A block of a channels-last map (B, H, W, C), as VOLO's outlookers are."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(x)


class _ClassBlock(torch.nn.Module):
    """VOLO's class attention: the class token reads the patch tokens, which pass on copied."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cls = x[:, :1] + self.mlp(x).mean(1, keepdim=True)
        return torch.cat([cls, x[:, 1:]], dim=1)


class _Volo(torch.nn.Module):
    def __init__(self, dim: int = 12) -> None:
        super().__init__()
        self.patch_embed = torch.nn.Conv2d(3, dim, 4, 4)
        self.network = torch.nn.ModuleList(_Mixer(dim) for _ in range(6))
        self.cls_token = torch.nn.Parameter(torch.ones(1, 1, dim))
        self.post_network = torch.nn.ModuleList(_ClassBlock(dim) for _ in range(2))
        self.head = torch.nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).permute(0, 2, 3, 1)
        for block in self.network:
            x = block(x)
        x = torch.cat([self.cls_token, x.flatten(1, 2)], dim=1)
        for block in self.post_network:
            x = block(x)
        return self.head(x[:, 0])


def test_a_block_that_passes_the_map_on_unchanged_is_no_new_layer() -> None:
    """timm's volo_d1_224 ends in two class-attention blocks that change the class token only: their
    patch tokens were the last block's map to the bit, shown as two more layers of the same
    pictures. A layer whose map is its predecessor's is left out of the catalog; one the user
    names is shown."""
    from generator.models.catalog import probe_catalog

    net = _Volo().eval()
    paths = [f"network.{i}" for i in range(6)] + ["post_network.0", "post_network.1"]
    shown = [info.module_path for info in probe_catalog(net, 32, paths).layers]
    assert shown == paths[:6]
    assert [info.module_path for info in probe_catalog(net, 32).layers] == paths[:6]
    named = probe_catalog(net, 32, paths, strict=True).layers
    assert [info.module_path for info in named] == paths


class _InBlock(torch.nn.Module):
    """A block over tokens in blocks (B, blocks, tokens, D): each token mixed with its block's."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(x + x.mean(2, keepdim=True))


class _Level(torch.nn.Module):
    """NesT's level: its map cut into `block` x `block` blocks of tokens, blocks over them, the
    map put back together (timm's `blockify`, `deblockify`)."""

    def __init__(self, cin: int, dim: int, block: int, stride: int) -> None:
        super().__init__()
        self.block = block
        self.pool = torch.nn.Conv2d(cin, dim, 3, stride, 1)
        self.transformer_encoder = torch.nn.Sequential(*[_InBlock(dim) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x).permute(0, 2, 3, 1)
        b, h, w, c = x.shape
        s = self.block
        x = x.reshape(b, h // s, s, w // s, s, c).transpose(2, 3).reshape(b, -1, s * s, c)
        x = self.transformer_encoder(x)
        x = x.reshape(b, h // s, w // s, s, s, c).transpose(2, 3).reshape(b, h, w, c)
        return x.permute(0, 3, 1, 2)


class _Nest(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 4, 4), torch.nn.BatchNorm2d(8))
        self.levels = torch.nn.Sequential(_Level(8, 8, 2, 1), _Level(8, 16, 2, 2))
        self.head = torch.nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.levels(self.patch_embed(x)).mean((2, 3)))


def test_tokens_in_blocks_are_laid_out_as_the_picture_they_tile() -> None:
    """timm's nest_tiny showed 4 layers, its levels whole: each level's blocks run on tokens
    cut into blocks of the picture, (B, blocks, tokens per block, D). They are layers, laid out
    as the map they tile; at 32 px the second level's 4 blocks of 4 tokens read as a 4 x 4
    channels-last map too, and are told apart from one (VOLO's, at 64 px) by where a change in
    the picture's corner lands."""
    from generator.models.candidates import candidate_paths
    from generator.models.catalog import probe_catalog
    from generator.models.hooks import ChannelsLast, TokenBlocks

    net = _Nest().eval()
    catalog = probe_catalog(net, 32)
    assert [(i.module_path, i.height, i.layout) for i in catalog.layers] == [
        ("patch_embed", 8, None),
        *[(f"levels.0.transformer_encoder.{k}", 8, TokenBlocks(4, 4, 2, 2)) for k in range(3)],
        *[(f"levels.1.transformer_encoder.{k}", 4, TokenBlocks(2, 2, 2, 2)) for k in range(3)],
    ], catalog.layers
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    paths = ["levels.0.transformer_encoder.2", "levels.0", "levels.1.transformer_encoder.2",
             "levels.1"]
    with torch.no_grad(), capture(net, paths, catalog.layouts) as out:
        net(images)
    assert torch.equal(out[paths[0]], out[paths[1]]) and torch.equal(out[paths[2]], out[paths[3]])
    # a block's inputs of its layout are laid out for its circuit; a 4-D tensor of another not
    blocks = TokenBlocks(2, 2, 2, 2)
    assert laid_out(torch.zeros(1, 3, 5, 8), blocks) is None
    assert tuple(laid_out(torch.zeros(1, 4, 4, 16), blocks).shape) == (1, 16, 4, 4)
    volo = probe_catalog(_Volo().eval(), 64).layers  # 16 x 16 tokens, channels last
    assert {i.layout for i in volo} == {ChannelsLast()}, volo
    # LCNetV2's and VoVNet's blocks hold lists of convolution units, parallel or not: no stage
    assert candidate_paths(torch.nn.Sequential(*(_Rep() for _ in range(3)))) == ["0", "1", "2"]
    # nor MobileViT's, a block among blocks of other kinds, with a `transformer` inside
    stages = torch.nn.Sequential(*(torch.nn.Sequential(_Rep(), _VitBlock()) for _ in range(2)))
    assert candidate_paths(stages) == ["0.0", "0.1", "1.0", "1.1"], candidate_paths(stages)


class _Unit(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)


class _VitBlock(torch.nn.Module):
    """MobileViT's block: convolutions around a `transformer` of blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_kxk = _Unit()
        self.transformer = torch.nn.Sequential(_InBlock(4), _InBlock(4))
        self.conv_proj = _Unit()


class _Rep(torch.nn.Module):
    """LCNetV2's block: convolutions side by side (`dw_conv_list`), then a Sequential of them."""

    def __init__(self) -> None:
        super().__init__()
        self.dw_conv_list = torch.nn.ModuleList(_Unit() for _ in range(2))
        self.pw_conv = torch.nn.Sequential(_Unit(), _Unit())


def test_blocks_that_return_pixel_and_patch_tokens_are_layers(sized: Path) -> None:
    """TNT's blocks return the pixel tokens (a batch per patch) beside the patch tokens: the
    catalog showed each block by its parts (timm's tnt_s_patch16_224: `attn_out` and `mlp`, 24
    layers). A block is read by its patch tokens, the tensor of the batch of images, for the
    catalog, the optimizer and the circuits alike (the circuit's leaf replaces the patch tokens
    only)."""
    model = load_model(f"python:{sized}:tnt", random_weights=True, input_size=32)
    assert [(i.name, i.layout) for i in model.layers] == [
        (f"blocks.{k}", TokenGrid(1, 8, 8)) for k in range(5)], model.layers
    pixels, patches = torch.zeros(64, 4, 4), torch.zeros(1, 65, 8)
    assert tensor_of((pixels, patches)) is patches and tensor_of((patches, patches)) is None
    leaf = torch.ones(1, 65, 8)
    laid = with_tensor((pixels, patches), leaf)
    assert isinstance(laid, tuple) and laid[0] is pixels and laid[1] is leaf
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    circuit = attribution_matrix(model, "blocks.1", "blocks.2", images)
    assert circuit.shape == (8, 8) and circuit.abs().sum() > 0
    settings = RenderSettings(size=32, steps=2, lr=0.05, transforms=TransformSpec.none())
    result = render(model, [obj.channel("blocks.3", 1)], settings, seeds=0)
    assert torch.isfinite(result.final).all()


class _Stateful(torch.nn.Module):
    """EfficientViM's block: its map, and its state space's hidden state (B, C, state)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.state = torch.nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x + self.conv(x)
        return x, self.state(x.flatten(2)[..., :16])


class _Vim(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = torch.nn.Conv2d(3, 8, 4, 4)
        self.blocks = torch.nn.ModuleList(_Stateful() for _ in range(5))
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for block in self.blocks:
            x, _ = block(x)
        return self.head(x.mean((2, 3)))


def test_blocks_that_return_their_map_and_a_state_are_layers() -> None:
    """timm's efficientvim_m1 showed the parts of its blocks (`dwconv1`, `dwconv2`, `ffn`: 17
    layers at 64 px), which return their map beside their hidden state: a block is read by its
    map, the one (B, C, H, W) tensor of the batch beside tensors of fewer dimensions."""
    from generator.models.catalog import probe_catalog

    names = [i.name for i in probe_catalog(_Vim().eval(), 32).layers]
    assert names == [f"blocks.{k}" for k in range(5)], names
    maps, state = torch.zeros(2, 8, 4, 4), torch.zeros(2, 8, 4)
    assert tensor_of((maps, state)) is maps and tensor_of((maps, maps)) is None
    assert tensor_of((maps, torch.zeros(3, 8, 4))) is None  # not of one batch
    leaf = torch.ones(2, 8, 4, 4)
    laid = with_tensor((maps, state), leaf)
    assert isinstance(laid, tuple) and laid[0] is leaf and laid[1] is state
