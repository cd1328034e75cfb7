"""Circuits: on a hand-built two-layer network with known weights both methods find the known
strongest inputs and outputs; results are deterministic, cached atomically and resumed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from generator.atlas.circuits import (
    CircuitJob,
    CircuitStore,
    adjacent_conv,
    attribution_matrix,
    block_probe,
    channel_circuit,
    circuit_jobs,
    compute_circuit,
    compute_circuits,
    images_digest,
    layer_pairs,
    pick_photos,
    weights_matrix,
)
from generator.core.errors import FeatvisError
from generator.models import load_model
from generator.models.base import LoadedModel, freeze, state_digest
from generator.models.catalog import build_catalog

# Second layer: target 0 is driven most by source 0 (+2) and most against by source 2 (-1);
# target 1 most by source 2 (+1) and most against by source 0 (-3).
W2 = torch.tensor([[2.0, 0.5, -1.0], [-3.0, 0.1, 1.0]])
NAMES = {"1": "relu1", "3": "relu2"}


def toy_model(kernel: int = 1) -> LoadedModel:
    conv1 = nn.Conv2d(3, 3, 1)
    conv2 = nn.Conv2d(3, 2, kernel, padding=kernel // 2)
    with torch.no_grad():
        conv1.weight.copy_(torch.eye(3)[:, :, None, None])
        conv1.bias.fill_(1.0)  # every source channel alive and of similar size
        conv2.weight.zero_()
        conv2.weight[:, :, kernel // 2, kernel // 2] = W2
        conv2.bias.copy_(torch.tensor([0.0, 10.0]))  # both targets stay above zero
    net = freeze(nn.Sequential(conv1, nn.ReLU(), conv2, nn.ReLU()))
    layers = build_catalog(net, 8, ["1", "3"], rename=lambda p: NAMES[p])
    return LoadedModel(
        id="toy", net=net, input_size=8, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
        layers=layers, class_names=(), weights_digest=state_digest(net), weights_source="test",
    )


def images(n: int = 6, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 0.5 + 0.5 * torch.rand(n, 3, 8, 8, generator=gen)


@pytest.mark.parametrize("strategy", ["loop", "batched"])
def test_attribution_finds_the_known_inputs(strategy: str) -> None:
    model = toy_model()
    x = images()
    matrix = attribution_matrix(model, "relu1", "relu2", x, strategy=strategy)  # type: ignore[arg-type]
    # grad x |activation| of a linear map: weight times the mean size of the source activation
    expected = W2 * (x + 1.0).mean(dim=(0, 2, 3))[None, :]
    assert torch.allclose(matrix, expected, atol=1e-5)
    circuit = compute_circuit(model, CircuitJob("toy", model.weights_digest, "relu1", "relu2"), x)
    pos, neg = circuit.inputs_of(0, k=3)
    assert [link.channel for link in pos] == [0, 1] and [link.channel for link in neg] == [2]
    pos, neg = circuit.inputs_of(1, k=1)
    assert pos[0].channel == 2 and neg[0].channel == 0
    out_pos, out_neg = circuit.outputs_of(0, k=2)
    assert out_pos[0].channel == 0 and out_neg[0].channel == 1


@pytest.mark.parametrize("strategy", ["loop", "batched"])
def test_a_source_of_negative_activations_excites_where_it_raises_the_target(
    strategy: str,
) -> None:
    """No floor after the source and its activations all below 0 (a linear bottleneck's): the
    sign of each link is its weight's, what more of the source does to the target; the size
    of the activation scales it."""
    conv1, conv2 = nn.Conv2d(3, 3, 1), nn.Conv2d(3, 2, 1)
    with torch.no_grad():
        conv1.weight.copy_(torch.eye(3)[:, :, None, None])
        conv1.bias.fill_(-5.0)  # every source channel between -4.5 and -4
        conv2.weight.copy_(W2[:, :, None, None])
        conv2.bias.copy_(torch.tensor([30.0, 30.0]))  # both targets stay above zero
    net = freeze(nn.Sequential(conv1, conv2, nn.ReLU()))
    names = {"0": "linear", "2": "relu"}
    model = LoadedModel(
        id="signed", net=net, input_size=8, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
        layers=build_catalog(net, 8, ["0", "2"], rename=lambda p: names[p]), class_names=(),
        weights_digest=state_digest(net), weights_source="test",
    )
    x = images()
    matrix = attribution_matrix(model, "linear", "relu", x, strategy=strategy)  # type: ignore[arg-type]
    assert torch.allclose(matrix, W2 * (x - 5.0).abs().mean(dim=(0, 2, 3))[None, :], atol=1e-4)
    pos, neg = compute_circuit(
        model, CircuitJob("signed", model.weights_digest, "linear", "relu"), x
    ).inputs_of(0, k=3)
    assert [link.channel for link in pos] == [0, 1] and [link.channel for link in neg] == [2]


@pytest.mark.parametrize("kernel", [1, 3])
def test_weights_method_reads_the_adjacent_convolution(kernel: int) -> None:
    model = toy_model(kernel)
    assert adjacent_conv(model, "relu1", "relu2") is not None
    signed, magnitude = weights_matrix(model, "relu1", "relu2")
    assert torch.allclose(signed, W2) and torch.allclose(magnitude, W2.abs())
    job = CircuitJob("toy", model.weights_digest, "relu1", "relu2", method="weights")
    circuit = compute_circuit(model, job)
    card = channel_circuit("relu2", 1, circuit, None, k=1)
    assert card.method == "weights" and card.inputs_layer == "relu1"
    assert card.positive[0].channel == 2 and card.negative[0].channel == 0
    assert card.to_dict()["negative"] == [{"channel": 0, "weight": -3.0}]


def test_weights_method_refuses_a_non_adjacent_pair(lite0: LoadedModel) -> None:
    assert adjacent_conv(lite0, "blocks.6.0", "conv_head") is not None
    assert adjacent_conv(lite0, "blocks.5.0", "blocks.5.1") is None
    with pytest.raises(FeatvisError, match="valid here: method = \"attribution\""):
        weights_matrix(lite0, "blocks.5.0", "blocks.5.1")


def test_lite0_weights_and_attribution_shapes(lite0: LoadedModel) -> None:
    """The exact head matrix folds conv_head's batch norm, whether the loaded model has folded
    it into the kernel already or not; attribution runs on a real pair."""
    signed, magnitude = weights_matrix(lite0, "blocks.6.0", "conv_head")
    assert signed.shape == (1280, 320) and (magnitude >= signed.abs() - 1e-6).all()
    unfolded = load_model(lite0.id, fold_norms=False)
    raw = unfolded.net.conv_head.weight.detach().float().sum(dim=(2, 3))
    assert not torch.allclose(signed, raw)  # the batch norm's scale is in
    apart, apart_magnitude = weights_matrix(unfolded, "blocks.6.0", "conv_head")
    # measured over kernel paths and thread counts (benchmarks/results/tolerances.md): 3e-8 at
    # most, 300x under the bound; the attribution's batched and looped: 0
    torch.testing.assert_close(signed, apart, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(magnitude, apart_magnitude, atol=1e-5, rtol=1e-4)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=gen)
    attributed = attribution_matrix(lite0, "conv_stem", "blocks.0.0", x, strategy="batched")
    assert attributed.shape == (16, 32) and attributed.abs().sum() > 0
    loop = attribution_matrix(lite0, "conv_stem", "blocks.0.0", x)
    assert torch.allclose(attributed, loop, atol=1e-5, rtol=1e-4)


def test_deterministic_and_cached(tmp_path: Path) -> None:
    model = toy_model(3)
    x = images(5, seed=3)
    a = attribution_matrix(model, "relu1", "relu2", x, image_batch=2)
    b = attribution_matrix(model, "relu1", "relu2", x, image_batch=5)
    assert torch.equal(a, attribution_matrix(model, "relu1", "relu2", x, image_batch=2))
    assert torch.allclose(a, b, atol=1e-6)
    jobs = circuit_jobs(model, ["relu2", "relu1"], method="attribution", inputs=images_digest(x))
    assert [(j.source, j.target, j.kind) for j in jobs] == [
        ("relu1", "relu2", "layers"), ("", "relu1", "inputs"), ("relu1", "relu2", "inputs"),
    ]
    store = CircuitStore(tmp_path / "circuits")
    computed: list[str] = []
    first = compute_circuits(model, jobs, store, x, progress=lambda j, _: computed.append(j.key))
    again = compute_circuits(model, jobs, store, None)  # cached: needs no images
    assert computed == [job.key for job in jobs]
    assert first[("<inputs>", "relu2")].parts == ()  # a plain layer: no block inputs
    assert torch.equal(first[("relu1", "relu2")].matrix, again[("relu1", "relu2")].matrix)
    assert not list(store.path(jobs[0].key).parent.glob("*.tmp"))
    store.path(jobs[0].key).write_bytes(b"truncated")  # a corrupt file reads as missing
    assert store.get(jobs[0]) is None
    other = CircuitJob("toy", model.weights_digest, "relu1", "relu2", inputs=images_digest(x[:4]))
    assert other.key != jobs[0].key


def test_pairs_and_photo_sample(lite0: LoadedModel) -> None:
    assert layer_pairs(lite0, ["conv_head", "blocks.0.0", "conv_stem"]) == [
        ("conv_stem", "blocks.0.0"), ("blocks.0.0", "conv_head"),
    ]
    files = [f"{i:03d}.jpg" for i in range(100)]
    assert pick_photos(files, 8, seed=1) == pick_photos(files, 8, seed=1)
    assert pick_photos(files, 8, seed=1) != pick_photos(files, 8, seed=2)
    assert pick_photos(files, 200, seed=1) == files
    with pytest.raises(FeatvisError, match="unknown circuit method"):
        CircuitJob("m", "d", "a", "b", method="gradient")  # type: ignore[arg-type]


def test_rows_for_chosen_targets() -> None:
    model = toy_model()
    x = images()
    full = attribution_matrix(model, "relu1", "relu2", x)
    assert torch.equal(attribution_matrix(model, "relu1", "relu2", x, targets=[1]), full[1:2])
    with pytest.raises(FeatvisError, match=r"valid: 0..1"):
        attribution_matrix(model, "relu1", "relu2", x, targets=[2])


def test_a_job_for_some_rows_measures_only_those(tmp_path: Path) -> None:
    """A site measures the rows of the channels it shows: the same numbers as the full matrix's
    rows, a key of its own, channel numbers (not row indexes) in every reading."""
    model = toy_model()
    x = images()
    digest = images_digest(x)
    jobs = circuit_jobs(model, ["relu1", "relu2"], method="attribution", inputs=digest,
                        rows={"relu2": [1]})
    pair, inputs_relu2 = jobs[0], jobs[2]
    assert pair.rows == (1,) and inputs_relu2.rows == (1,) and jobs[1].rows == ()
    every = circuit_jobs(model, ["relu1", "relu2"], method="attribution", inputs=digest,
                         rows={"relu2": [0, 1]})[0]
    assert every.rows == () and every.key != pair.key  # all rows listed: the full job
    assert "rows" not in every.to_dict() and pair.to_dict()["rows"] == [1]
    full = compute_circuit(model, every, x)
    some = compute_circuit(model, pair, x)
    assert torch.equal(some.matrix, full.matrix[1:2])
    assert some.inputs_of(1) == full.inputs_of(1) and some.inputs_of(0) == ((), ())
    (out_pos, out_neg) = some.outputs_of(2)  # source 2 feeds target 1 only, among the rows
    assert [link.channel for link in out_pos] == [1] and out_neg == ()
    assert channel_circuit("relu1", 2, None, some).outputs_among == 1
    store = CircuitStore(tmp_path / "circuits")
    store.put(some)
    back = store.get(pair)
    assert back is not None and torch.equal(back.matrix, some.matrix) and back.job.rows == (1,)
    with pytest.raises(FeatvisError, match="ascending"):
        CircuitJob("toy", model.weights_digest, "relu1", "relu2", rows=(1, 0))


class Residual(nn.Module):
    """x + conv(x), the conv's weights given."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.conv = nn.Conv2d(weight.shape[1], weight.shape[0], 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(weight[:, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


class Branches(nn.Module):
    """Two branches joined along the channels, then a 1x1 convolution (`mix`) with known
    weights: mix's channel 0 is driven most by branch b's channel 1, against by a's channel 0."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 3, 1)
        self.a = nn.Conv2d(3, 2, 1)
        self.b = nn.Conv2d(3, 2, 1)
        self.mix = nn.Conv2d(4, 1, 1, bias=False)
        with torch.no_grad():
            for seed, conv in enumerate((self.stem, self.a, self.b)):
                gen = torch.Generator().manual_seed(seed)
                conv.weight.copy_(torch.rand(conv.weight.shape, generator=gen))
                conv.bias.fill_(0.5)  # every channel positive on positive images
            self.mix.weight.copy_(torch.tensor([[-2.0, 0.1, 0.2, 3.0]])[:, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        return self.mix(torch.cat([self.a(s), self.b(s)], dim=1))


def small_model(net: nn.Module, paths: list[str]) -> LoadedModel:
    net = freeze(net)
    return LoadedModel(
        id="toy", net=net, input_size=8, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
        layers=build_catalog(net, 8, paths), class_names=(), weights_digest=state_digest(net),
        weights_source="test",
    )


def test_block_inputs_residual_and_concatenating(tmp_path: Path) -> None:
    x = images(4, seed=5)
    eye = torch.eye(3)
    res = small_model(nn.Sequential(Residual(eye), Residual(eye * 0.5), Residual(eye)),
                      ["0", "1", "2"])
    assert block_probe(res, "2").residual and block_probe(res, "0").parts[0].module == ""
    # the explorer shows 0 and 2: block 2's input is layer 1, not the previous visualized layer
    jobs = circuit_jobs(res, ["0", "2"], method="attribution", inputs=images_digest(x))
    got = compute_circuits(res, jobs, CircuitStore(tmp_path / "r"), x)
    block = got[("<inputs>", "2")]
    assert [(p.layer, p.start, p.channels) for p in block.parts] == [("1", 0, 3)]
    assert block.residual and block.matrix.shape == (3, 3)
    pos, _ = block.inputs_of(1, k=1)  # y = 2x: channel 1 is driven by its own input channel
    assert pos[0].channel == 1 and pos[0].layer == "1"
    # with every layer shown, block 2's input is the previous layer: named, not measured again
    jobs = circuit_jobs(res, ["0", "1", "2"], method="attribution", inputs=images_digest(x))
    got = compute_circuits(res, jobs, CircuitStore(tmp_path / "r2"), x)
    assert got[("<inputs>", "2")].matrix.shape == (3, 0) and got[("<inputs>", "2")].residual
    circuit = channel_circuit("2", 0, got[("1", "2")], None, 2, got[("<inputs>", "2")])
    assert circuit.block is not None and not circuit.block.measured
    assert circuit.to_dict()["block_inputs"]["parts"][0]["layer"] == "1"

    cat = small_model(Branches(), ["stem", "a", "b", "mix"])
    probe = block_probe(cat, "mix")
    assert [(p.layer, p.start, p.channels) for p in probe.parts] == [("a", 0, 2), ("b", 2, 2)]
    assert not probe.residual
    jobs = circuit_jobs(cat, ["stem", "mix"], method="attribution", inputs=images_digest(x))
    got = compute_circuits(cat, jobs, CircuitStore(tmp_path / "c"), x)
    pos, neg = got[("<inputs>", "mix")].inputs_of(0, k=1)
    assert (pos[0].layer, pos[0].channel) == ("b", 1)
    assert (neg[0].layer, neg[0].channel) == ("a", 0)


def test_the_first_shown_layer_is_measured_from_the_layer_before(tmp_path: Path) -> None:
    """An explorer showing only relu2 (one input, no skip: no block inputs to measure) still gives
    its channels a circuit: the pair from the catalog's layer before it."""
    from generator.atlas.site import layer_before

    model = toy_model()
    x = images()
    assert layer_before(model, "relu2") == "relu1" and layer_before(model, "relu1") == ""
    alone = circuit_jobs(model, ["relu2"], method="attribution", inputs=images_digest(x))
    assert [j.kind for j in alone] == ["inputs"] and alone[0].source == ""
    jobs = circuit_jobs(model, ["relu2"], method="attribution", inputs=images_digest(x),
                        before="relu1")
    assert [(j.kind, j.source, j.target) for j in jobs] == [
        ("layers", "relu1", "relu2"), ("inputs", "relu1", "relu2")
    ]
    got = compute_circuits(model, jobs, CircuitStore(tmp_path / "c"), x)
    circuit = channel_circuit("relu2", 0, got[("relu1", "relu2")], None, 3)
    assert circuit.inputs_layer == "relu1" and circuit.positive
