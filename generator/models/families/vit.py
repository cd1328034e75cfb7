"""The catalog of a vision transformer, in torchvision's and timm's module naming.

The main catalog is the patch embedding, the layer that sees the pixels (its convolution: a map
of the patch grid, before any class token or register joins), then the residual stream after
each transformer block; the optional layers are
the MLP hidden units after the GELU (`blocks.N.mlp.act` in timm, `encoder.layers.encoder_layer_N
.mlp.1` in torchvision), which visualize best in ViTs (Ghiasi et al., 2022). Token outputs reach
the rest of featvis as patch maps through `generator.models.hooks.TokenGrid`.
"""

from __future__ import annotations

from torch import nn


def is_timm_vit(net: nn.Module) -> bool:
    return all(hasattr(net, a) for a in ("patch_embed", "blocks", "num_prefix_tokens"))


def timm_paths(net: nn.Module) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the patch embedding and the blocks, MLP hidden units) of a timm VisionTransformer: the
    embedding's convolution (`patch_embed.proj`; XCiT's, a stack of them), else the embedding."""
    n = len(net.blocks)  # type: ignore[arg-type]
    optional = tuple(
        f"blocks.{i}.mlp.act" for i in range(n) if hasattr(net.blocks[i], "mlp")  # type: ignore[index]
    )
    proj = isinstance(getattr(net.patch_embed, "proj", None), nn.Module)
    embed = "patch_embed.proj" if proj else "patch_embed"
    return (embed, *(f"blocks.{i}" for i in range(n))), optional


def is_torchvision_vit(net: nn.Module) -> bool:
    return hasattr(net, "encoder") and hasattr(net, "class_token") and hasattr(net, "image_size")


def torchvision_paths(net: nn.Module) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the patch embedding and the blocks, MLP hidden units) of a torchvision
    VisionTransformer."""
    names = [name for name, _ in net.encoder.layers.named_children()]  # type: ignore[union-attr]
    blocks = tuple(f"encoder.layers.{name}" for name in names)
    return ("conv_proj", *blocks), tuple(f"{block}.mlp.1" for block in blocks)
