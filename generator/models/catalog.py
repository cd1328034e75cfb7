"""Layer catalogs: which layers of a network are worth showing, and band references to them.

`probe_catalog` runs one forward pass at the model's input size and keeps the asked-for module
paths (or, by default, `models.candidates.candidate_paths`: stems, blocks, the blocks inside a
stage, activations of plain convolution stacks) whose output is a spatial
feature map (B, C, H, W), a channels-last map, tokens on a patch grid (B, prefix + H*W, D) or
tokens in blocks of the picture (B, blocks, tokens per block, D), with the layout that lays them
out (`models.shapes`). Layers are ordered as the forward pass reaches them; `depth` is
that order (optional layers, such as a transformer's MLP hidden units, interleave with the main
ones) and the five bands split the main catalog evenly.

`resolve_layer_ref` turns `parts`, `parts[-1]`, `objects[0]` (or a layer name) into a layer name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from generator.core.errors import FeatvisError, choices_hint
from generator.models.base import BANDS, LayerInfo, Size, band_for, sides
from generator.models.candidates import candidate_paths, conv_unit, is_leaf
from generator.models.hooks import (
    ChannelsLast,
    Layout,
    capture,
    declared_prefix,
    lay_out,
    set_layouts,
)
from generator.models.shapes import Shape, blocked, from_corner, shape_of


@dataclass(frozen=True)
class Catalog:
    """The main layers, the optional ones, their token layouts and the network's output shape."""

    layers: tuple[LayerInfo, ...]
    optional: tuple[LayerInfo, ...] = ()
    layouts: dict[str, Layout] = field(default_factory=dict)
    output_shape: tuple[int, ...] | None = None
    output_kind: str = "Tensor"  # the type of the network's output (a dict, a tuple: unusable)


class LayerShapeError(FeatvisError):
    """An explicitly asked-for layer whose output is neither a feature map nor patch tokens."""


def _probe(
    net: nn.Module, input_size: Size, paths: Sequence[str], *, picture: str = "grey"
) -> tuple[dict[str, torch.Tensor], dict[str, int], object]:
    """Raw outputs of `paths` on one `picture`: grey, seeded uniform `noise`, or grey with
    such noise in its top-left `corner` (a quarter of each side); the order the forward pass
    reached them in, and the network's output."""
    device = next(net.parameters()).device
    order: dict[str, int] = {}
    modules = dict(net.named_modules())
    handles = []
    for path in paths:

        def first(_m: nn.Module, _i: object, _o: object, path: str = path) -> None:
            order.setdefault(path, len(order))

        handles.append(modules[path].register_forward_hook(first))
    try:
        with torch.no_grad(), capture(net, list(paths), layouts={}, copies=False) as store:
            tall, wide = sides(input_size)
            image = torch.zeros(1, 3, tall, wide)
            part = image[..., : max(1, tall // 4), : max(1, wide // 4)]
            if picture != "grey":
                part = image if picture == "noise" else part
                part.uniform_(-1, 1, generator=torch.Generator().manual_seed(0))
            out = net(image.to(device))
            return dict(store), order, out
    finally:
        for h in handles:
            h.remove()


# How much nearer the corner a change must lie read as blocks than as rows: a tenth
_NEARER = 0.9


def _tiled(
    net: nn.Module, input_size: Size, raw: dict[str, torch.Tensor], shapes: dict[str, Shape]
) -> dict[str, Shape]:
    """The channels-last maps of `shapes` that are blocks of tokens: those whose shape reads both
    ways (16 blocks of 16 tokens, a 16 x 16 map) and whose change, where noise lies in the
    picture's top-left corner, lies clearly nearer the map's top-left corner read as blocks
    than as rows (`_NEARER`: a block's tokens read as a row spread along the top edge, as a
    row's tokens read as blocks do; where a network mixes the whole map, Swin's last stages,
    both readings spread alike, and the map stays channels last)."""
    both = {
        p: tiled for p, s in shapes.items()
        if isinstance(s[3], ChannelsLast) and (tiled := blocked(raw[p], input_size)) is not None
    }
    if not both:
        return {}
    corner = _probe(net, input_size, list(both), picture="corner")[0]
    found = {}
    for path, tiled in both.items():
        change = (corner[path] - raw[path]).abs()
        as_rows, as_blocks = (lay_out(change, s[3]).sum(dim=(0, 1)) for s in (shapes[path], tiled))
        if from_corner(as_blocks) < _NEARER * from_corner(as_rows):
            found[path] = tiled
    return found


def probe_catalog(
    net: nn.Module,
    input_size: Size,
    paths: Sequence[str] | None = None,
    *,
    optional: Sequence[str] = (),
    rename: Callable[[str], str] = lambda p: p,
    prefix_tokens: int | None = None,
    strict: bool = False,
    distinct: bool = False,
) -> Catalog:
    """Probe one forward pass; keep the paths with a spatial or token-grid output, in forward
    order (`prefix_tokens`: the tokens before the patch grid, by default as the network
    declares them, `hooks.declared_prefix`, else guessed per layer). `strict`: a path without
    one is an error (the user named it), not skipped. Without `paths`, the candidates, less
    those that repeat a block's output (`distinct`); a network of fewer than five such blocks
    shows the activations inside them too, and one of neither blocks nor activation modules
    its convolutions."""
    if prefix_tokens is None:
        prefix_tokens = declared_prefix(net)
    main = list(candidate_paths(net) if paths is None else paths)
    extra = [p for p in optional if p not in main]
    raw, order, out = _probe(net, input_size, main + extra)
    if not strict and (split := _split(net, main, raw)) != main:  # a family's paths too
        main = split
        raw, order, out = _probe(net, input_size, main + extra)
    if paths is None or distinct:
        main = _distinct(main, raw)
    if paths is None:
        few = [
            p for p in main
            if p in raw and shape_of(raw[p], prefix_tokens, input_size) is not None
        ]
        modules = dict(net.named_modules())
        convs = [n for n, m in modules.items() if n and isinstance(m, nn.Conv2d)]
        # no blocks, no activation modules (a forward that calls F.relu), at most a stem
        if convs and all(conv_unit(modules[p]) for p in few):
            return probe_catalog(
                net, input_size, convs, optional=optional, rename=rename,
                prefix_tokens=prefix_tokens, distinct=True,
            )
        opened = _opened(net, few)
        if len(few) < len(BANDS) and len(opened) > len(few):  # a small network: its insides too
            return probe_catalog(
                net, input_size, opened, optional=optional, rename=rename,
                prefix_tokens=prefix_tokens, distinct=True,
            )
    shapes: dict[str, Shape] = {}
    for path in main + extra:
        shape = shape_of(raw[path], prefix_tokens, input_size) if path in raw else None
        if shape is not None:
            shapes[path] = shape
        elif strict and path in main:
            got = tuple(raw[path].shape) if path in raw else "no tensor (never called?)"
            raise LayerShapeError(
                f"layer '{path}' gives {got}, not a (B, C, H, W) map or (B, tokens, D) patch tokens"
            )
    shapes.update(_tiled(net, input_size, raw, shapes))
    kept = sorted(shapes, key=lambda p: order[p])
    if not strict:  # a layer the user named is shown, whatever it repeats
        main_kept = [p for p in kept if p in main]
        if repeats := _repeats(main_kept, raw, shapes):  # alike on grey: alike on noise too?
            noisy = _probe(net, input_size, main_kept, picture="noise")[0]
            repeats &= _repeats(main_kept, noisy, shapes)
        kept = [p for p in kept if p not in repeats]
    main_kept = [p for p in kept if p in main]
    band_of = {p: band_for(i, len(main_kept)) for i, p in enumerate(main_kept)}
    place = {p: i for i, p in enumerate(main_kept)}
    infos: list[LayerInfo] = []
    for depth, path in enumerate(kept):
        channels, height, width, layout = shapes[path]
        band = band_of.get(path) or _band_after(path, kept, band_of)
        infos.append(
            LayerInfo(
                name=rename(path),
                module_path=path,
                channels=channels,
                height=height,
                width=width,
                depth=depth,
                band=band,
                optional=path not in band_of,
                layout=layout,
                position=place.get(path, sum(1 for p in main_kept if order[p] < order[path])),
            )
        )
    layouts = {p: s[3] for p, s in shapes.items() if s[3] is not None}
    return Catalog(
        layers=tuple(i for i in infos if not i.optional),
        optional=tuple(i for i in infos if i.optional),
        layouts=layouts,
        output_shape=tuple(out.shape) if isinstance(out, torch.Tensor) else None,
        output_kind="Tensor" if isinstance(out, torch.Tensor) else type(out).__name__,
    )


def _distinct(paths: list[str], raw: dict[str, torch.Tensor]) -> list[str]:
    """`paths` less those whose output is the very tensor an enclosing path's module returns
    (a block ending in its activation): the block is kept."""
    kept = []
    for path in paths:
        same = [
            p for p in paths
            if p != path and path.startswith(p + ".") and p in raw and raw.get(path) is raw[p]
        ]
        if not same:
            kept.append(path)
    return kept


def _repeats(
    paths: list[str], raw: dict[str, torch.Tensor], shapes: dict[str, Shape]
) -> set[str]:
    """The layers of `paths` (in forward order) whose map, laid out, is their predecessor's to
    the bit in a tensor of its own: a module that passes the map on and changes other tokens only
    (VOLO's class-attention blocks, which update the class token beside the patch tokens they
    copy) shows no new layer. A tensor that shares its predecessor's storage (changed in place
    after it was made) is no such copy, nor is a map of one value throughout (all 0 past a
    ReLU): the caller asks a second picture, of noise, before it leaves a layer out."""
    repeats: set[str] = set()
    for before, path in zip(paths, paths[1:], strict=False):
        a, b = raw[before], raw[path]
        if a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr():
            continue
        map_a, map_b = lay_out(a, shapes[before][3]), lay_out(b, shapes[path][3])
        flat = bool(map_b.amin() == map_b.amax()) if map_b.numel() else True
        if not flat and map_a.shape == map_b.shape and torch.equal(map_a, map_b):
            repeats.add(path)
    return repeats


def _split(net: nn.Module, paths: list[str], raw: dict[str, torch.Tensor]) -> list[str]:
    """`paths` with each block that returns no one tensor (HRNet's multi-resolution modules: a
    list of maps, one per branch) replaced by the blocks inside it (each branch's blocks), or
    by the candidates inside it where it holds no blocks."""
    modules = dict(net.named_modules())
    split: list[str] = []
    for path in paths:
        module = modules[path]
        inner = [] if path in raw or is_leaf(module) else candidate_paths(module, whole=False)
        blocks = [p for p in inner if not is_leaf(module.get_submodule(p))]
        split += [f"{path}.{p}" for p in blocks or inner] or [path]
    return split


def _opened(net: nn.Module, paths: list[str]) -> list[str]:
    """`paths` with the candidates inside each composite module added before it: a person's view
    of a network of only a few blocks (each block and the activations within it)."""
    modules = dict(net.named_modules())
    opened: list[str] = []
    for path in paths:
        inner = (
            candidate_paths(modules[path], whole=False) if list(modules[path].children()) else []
        )
        opened += [f"{path}.{p}" for p in inner] + [path]
    return opened


def _band_after(path: str, kept: list[str], band_of: dict[str, str]) -> str:
    """An optional layer's band: that of the next main layer (the block it sits in)."""
    after = [band_of[p] for p in kept[kept.index(path) :] if p in band_of]
    before = [band_of[p] for p in kept if p in band_of]
    return after[0] if after else (before[-1] if before else BANDS[0])


def build_catalog(
    net: nn.Module,
    input_size: Size,
    paths: list[str] | None = None,
    rename: Callable[[str], str] = lambda p: p,
    *,
    prefix_tokens: int | None = None,
) -> tuple[LayerInfo, ...]:
    """The main catalog of `net`; registers the token layouts it found for `capture`."""
    catalog = probe_catalog(net, input_size, paths, rename=rename, prefix_tokens=prefix_tokens)
    set_layouts(net, catalog.layouts)
    return catalog.layers


_REF = re.compile(r"(?P<band>[a-z]+)(?:\[(?P<index>-?\d+)\])?")


def resolve_layer_ref(ref: str, layers: Sequence[LayerInfo], model: str = "") -> str:
    """A layer name for `ref`: a layer name as is; a band (`parts`) its middle layer, the one the
    layer gallery shows; `parts[-1]`, `objects[0]` a layer of the band by position. Bands group
    the main catalog only. In a catalog of fewer than ten layers, where a band may hold a single
    layer, `band[i]` past the band's end (but within the network's reach) is the band's last
    layer (`band[-i]`: its first), so a figure's row for a band shows a layer of that band and no
    row repeats the next band's (`textures[1]` of a five-layer network is its second layer, the
    textures band's one); in one of fewer than five layers an empty band is the layer at its depth
    and any index is the band's layer, so an article written for a deep network builds for any.
    Past the network's reach (`parts[7]` of five layers), or past a band's end in a catalog of
    ten or more, is an error naming the bands' sizes."""
    names = [info.name for info in layers]
    if ref in names:
        return ref
    main = [info.name for info in layers if not info.optional]
    by_band: dict[str, list[str]] = {band: [] for band in BANDS}
    for info in layers:
        if not info.optional:
            by_band.setdefault(info.band, []).append(info.name)
    m = _REF.fullmatch(ref.strip())
    group = by_band.get(m.group("band"), []) if m else []
    if m and not group and m.group("band") in BANDS and 0 < len(main) < len(BANDS):
        # fewer layers than bands: an empty band is the layer at its depth
        group = [main[(2 * BANDS.index(m.group("band")) * (len(main) - 1) + 4) // 8]]
    if m and group:
        if m.group("index") is None:
            return group[len(group) // 2]
        index = int(m.group("index"))
        if -len(group) <= index < len(group):
            return group[index]
        first, last = main.index(group[0]), main.index(group[-1])
        spilled = first + index if index >= 0 else last + 1 + index
        inside = group[-1] if index >= 0 else group[0]  # the band's own layer nearest the index
        if len(main) < len(BANDS):  # bands share the few layers there are
            return inside
        if len(main) < 2 * len(BANDS) and 0 <= spilled < len(main):
            return inside
    owner = f"model '{model}': " if model else ""
    sizes = ", ".join(f"{band} {len(by_band[band])}" for band in BANDS)
    if m is None or m.group("band") not in by_band:  # a layer name, mistyped
        raise FeatvisError(
            f"unknown layer '{ref}' ({choices_hint(ref, names)}; or a band of: {sizes})"
        )
    raise FeatvisError(
        f"{owner}cannot resolve layer '{ref}' (bands and their layers: {sizes}; "
        f"write a band, band[i], or one of {len(names)} layer names such as "
        f"{', '.join(names[:3])})"
    )
