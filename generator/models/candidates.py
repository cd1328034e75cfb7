"""Which modules of a network may be layers: `candidate_paths` walks the module tree and names the
stems, blocks, Inception's mixed blocks, the blocks inside a stage and the activations of plain
convolution stacks (VGG's); `models.catalog` keeps those whose output is a picture's map.
"""

from __future__ import annotations

from torch import nn

from generator.models.base import _ACTIVATIONS

# Attributes that hold a stage's repeated blocks (timm's stages, many research models).
_BLOCK_LISTS = ("blocks", "layers")


def is_leaf(module: nn.Module) -> bool:
    """Whether `module` has no children."""
    return not list(module.children())


def candidate_paths(root: nn.Module, *, whole: bool = True) -> list[str]:
    """Module paths worth visualizing: blocks, composite stems and post-activation leaves.
    `whole`: `root` is the network, and a convolution unit it reaches before any other candidate
    is its stem, shown whole (ConvNeXt's and Swin's patch embedding, a Sequential of a strided
    convolution and a norm: no activation shows its channels); not so inside a block."""
    paths: list[str] = []

    def visit(container: nn.Module, prefix: str) -> None:
        children = list(container.named_children())
        for place, (name, child) in enumerate(children):
            path = f"{prefix}{name}"
            kids = list(child.children())
            if isinstance(child, (nn.Sequential, nn.ModuleList)):
                stem = whole and not paths and not _activated(container, children, place)
                if stem and conv_unit(child):
                    paths.append(path)
                elif kids and all(is_leaf(k) for k in kids):
                    paths.extend(
                        f"{path}.{n}"
                        for n, k in child.named_children()
                        if isinstance(k, _ACTIVATIONS)
                    )
                elif _repeated_block(container, child):
                    paths.append(path)
                else:
                    visit(child, path + ".")
            elif kids and _block_list(child, _least(child, children), _staged(child, children)):
                visit(child, f"{path}.")  # a stage: its blocks, and its other composite parts
            elif kids and not _activated(container, children, place):
                paths.append(path)
            elif isinstance(child, _ACTIVATIONS):
                paths.append(path)

    visit(root, "")
    return paths


def conv_unit(module: nn.Module) -> bool:
    """Whether `module` is a Sequential of plain modules that runs a convolution and no
    activation module (a patch embedding: a strided convolution and a norm)."""
    kids = list(module.children())
    return (
        isinstance(module, nn.Sequential)
        and bool(kids)
        and all(is_leaf(k) for k in kids)
        and any(isinstance(k, nn.Conv2d) for k in kids)
        and not any(isinstance(k, _ACTIVATIONS) for k in kids)
    )


def _repeated_block(container: nn.Module, child: nn.Module) -> bool:
    """Whether `child`, a Sequential of parts and plain modules both, is one of several alike
    in `container` (ConvMixer's blocks: a residual part, a convolution, GELU, a norm): a block,
    shown whole rather than by its parts; not where a part is a Sequential of blocks itself
    (RDNet's stages: a norm, a convolution and the stage's blocks, opened as its first stage,
    the blocks alone, is)."""
    def parts(module: nn.Module) -> tuple[type, ...]:
        return tuple(type(k) for k in module.children())

    kids = list(child.children())
    mixed = any(is_leaf(k) for k in kids) and not all(is_leaf(k) for k in kids)
    staged = any(
        isinstance(k, nn.Sequential) and sum(not is_leaf(b) for b in k.children()) >= 2
        for k in kids
    )
    alike = [c for c in container.children() if parts(c) == parts(child)]
    return isinstance(child, nn.Sequential) and mixed and not staged and len(alike) >= 2


def _activated(container: nn.Module, children: list[tuple[str, nn.Module]], place: int) -> bool:
    """Whether a Sequential runs an activation module right after its child at `place` (LeViT's
    stem: convolution + norm, then Hardswish): that activation shows the child's channels."""
    after = children[place + 1][1] if place + 1 < len(children) else None
    return isinstance(container, nn.Sequential) and isinstance(after, _ACTIVATIONS)


def _pipeline(blocks: nn.Module) -> bool:
    """Whether a container's parts are named (not numbered) and of more than one kind."""
    named = list(blocks.named_children())
    kinds = {type(child) for _, child in named}
    return len(kinds) > 1 and not all(name.isdigit() for name, _ in named)


def _least(child: nn.Module, siblings: list[tuple[str, nn.Module]]) -> int:
    """How many composite blocks make `child` a stage: two, or one where a sibling of its kind
    is a stage of two or more (DaViT's stages of one block beside its stage of three: each
    stage is opened into its blocks, not the one alone)."""
    alike = (m for _, m in siblings if m is not child and type(m) is type(child))
    return 1 if any(_block_list(m) is not None for m in alike) else 2


def _staged(child: nn.Module, siblings: list[tuple[str, nn.Module]]) -> bool:
    """Whether `child` is one of several modules of its class side by side (stages, levels)."""
    return any(m is not child and type(m) is type(child) for _, m in siblings)


def _block_list(module: nn.Module, least: int = 2, staged: bool = True) -> nn.Module | None:
    """The Sequential/ModuleList of at least `least` composite blocks a stage module holds: a
    list (numbered, or of one kind), not a pipeline of named parts of several kinds (MaxViT's
    layer: `MBconv`, `window_attention`, `grid_attention`, a block of its own); under another
    name than `_BLOCK_LISTS`, of a module `staged` (one of several of its class side by side),
    a Sequential (its blocks run one after the other) of blocks of one class, none a container
    or a convolution unit (NesT's levels' `transformer_encoder`; not HRNet's `branches`, a list
    of Sequentials, nor LCNetV2's parallel `dw_conv_list` or VoVNet's `conv_mid`, convolutions
    and their norms, nor MobileViT's block, one among blocks of other kinds, whose
    `transformer` runs between its convolutions)."""
    for attr in _BLOCK_LISTS:
        blocks = getattr(module, attr, None)
        if isinstance(blocks, (nn.Sequential, nn.ModuleList)) and not _pipeline(blocks):
            composite = [b for b in blocks.children() if not is_leaf(b)]
            if len(composite) >= least:
                return blocks
    for name, blocks in module.named_children():
        if not staged or name in _BLOCK_LISTS or not isinstance(blocks, nn.Sequential):
            continue
        kids = list(blocks.children())
        if len(kids) >= least and len({type(k) for k in kids}) == 1 and _block(kids[0]):
            return blocks
    return None


def _block(module: nn.Module) -> bool:
    """Whether `module` is a block of parts: composite, no container, and holding no
    convolution of its own (a convolution, its norm and activation are a unit, not a block)."""
    return (
        not is_leaf(module)
        and not isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict))
        and not any(isinstance(k, nn.Conv2d) for k in module.children())
    )
