"""The model zoo: real embedded weights, layer catalogs, loading paths and their errors."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.functional as TF
from inprocess import Ran, featvis_here
from PIL import Image

from generator.core.errors import FeatvisError
from generator.models import BANDS, load_model
from generator.models.families.lite import convert_state_dict, package_weights_path
from generator.models.weights import read_state_dict


def featvis(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    """The command in this process (tests/test_compute.py starts a real one that fails in one
    line on an unknown layer)."""
    return featvis_here(*args, capture=capsys, ok=False)


@pytest.mark.slow
def test_embedded_weights_are_real(lite0, sample_dir):
    """Top-1 on every fourth photo of the 1000-photo ImageNet sample (224 center crop, the
    photo of class k is file k) must reach 0.85: 0.872 on these 250, 0.868 on all 1000,
    about 0.001 with random weights."""
    files = sorted(sample_dir.glob("*.jpg"))
    assert len(files) == 1000
    classes = range(0, len(files), 4)
    correct = 0
    for start in range(0, len(classes), 50):
        batch_classes = classes[start : start + 50]
        batch = torch.stack([
            TF.to_tensor(TF.center_crop(TF.resize(Image.open(files[k]).convert("RGB"), 256), 224))
            for k in batch_classes
        ])
        with torch.inference_mode():
            pred = lite0.net(lite0.preprocess(batch)).argmax(1)
        correct += int((pred == torch.tensor(list(batch_classes))).sum())
    assert correct / len(classes) >= 0.85


def test_catalog_covers_every_stage_in_order(lite0):
    names = lite0.layer_names
    assert names[0] == "conv_stem" and names[-1] == "conv_head"
    assert len(names) == 18
    depths = [layer.depth for layer in lite0.layers]
    assert depths == sorted(depths)
    assert {layer.band for layer in lite0.layers} == set(BANDS)
    # Spatial size never grows with depth; channels at the head are the widest.
    sizes = [layer.height for layer in lite0.layers]
    assert all(a >= b for a, b in zip(sizes, sizes[1:], strict=False))
    assert lite0.layer("conv_head").channels == 1280


def test_weight_mapping_rejects_a_wrong_shape():
    import timm

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    state = read_state_dict(package_weights_path())
    state["_blocks.3._expand_conv.weight"] = torch.zeros(1, 1, 1, 1)
    with pytest.raises(FeatvisError, match="shape"):
        convert_state_dict(state, net)
    state = read_state_dict(package_weights_path())
    del state["_fc.bias"]
    with pytest.raises(FeatvisError, match="missing"):
        convert_state_dict(state, net)


@pytest.mark.parametrize("spec", ["torchvision:resnet18", "torchvision:googlenet", "timm:resnet18"])
def test_random_weights_give_a_catalog(spec):
    model = load_model(spec, random_weights=True)
    assert len(model.layers) >= 8
    assert all(layer.channels > 0 and layer.height > 1 for layer in model.layers)
    assert model.weights_source == "random (seed 0)"


def test_local_weights_file_round_trip(tmp_path):
    source = load_model("torchvision:resnet18", random_weights=True, seed=3, fold_norms=False)
    path = tmp_path / "resnet18.pth"
    torch.save(source.net.state_dict(), path)
    loaded = load_model("torchvision:resnet18", weights=path)
    assert loaded.weights_digest == source.weights_digest
    other = load_model("torchvision:resnet18", random_weights=True, seed=4)
    assert other.weights_digest != source.weights_digest


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.module."])
def test_a_checkpoint_saved_through_a_training_wrapper_loads(tmp_path, prefix):
    """DataParallel prefixes every key with `module.`, torch.compile with `_orig_mod.`."""
    source = load_model("torchvision:resnet18", random_weights=True, seed=3, fold_norms=False)
    path = tmp_path / "resnet18.pth"
    torch.save({"model": {prefix + k: v for k, v in source.net.state_dict().items()}}, path)
    loaded = load_model("torchvision:resnet18", weights=path)
    assert loaded.weights_digest == source.weights_digest


def test_offline_without_weights_names_the_ways_out(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr("generator.models.families.torchvision.reachable", lambda host: False)
    monkeypatch.setattr("generator.models.families.timm.reachable", lambda host: False)
    with pytest.raises(FeatvisError, match=r"torchvision:resnet18.*--weights PATH"):
        load_model("torchvision:resnet18")
    with pytest.raises(FeatvisError, match=r"timm:resnet18.*--weights PATH"):
        load_model("timm:resnet18")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["layers", "--model", "vgg"], "unknown model 'vgg' (valid: efficientnet_lite0"),
        (["layers", "--model", "torchvision:resnet5"], "did you mean: torchvision:resnet50"),
        (["layers", "--model", "torchvison:resnet18"], "(did you mean: torchvision:resnet18?"),
        (["layers", "--model", "efficientnet_lite00"], "(did you mean: efficientnet_lite0? valid:"),
        (["demo", "--unit", "blocks.9.0:1"], "unknown layer 'blocks.9.0' (did you mean"),
        (
            ["demo", "--unit", "blocks.2.1:40"],
            "channel 40 out of range for layer 'blocks.2.1' (valid: 0..39)",
        ),
        (["layers", "--device", "cuda"], "--device: device 'cuda' asked for, but CUDA is not"),
        (["layers", "--device", "tpu"], "--device 'tpu' is not a device (valid: auto, cpu, cuda"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    proc = featvis(capsys, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


@pytest.mark.parametrize(
    ("device", "message"),
    [("tpu", "'tpu' is not a device (valid: auto, cpu, cuda, cuda:N)"),
     ("cuda:1", "device 'cuda:1' asked for, but CUDA is not available here")],
)
@pytest.mark.parametrize("command", ["layers", "build"])
def test_a_bad_device_in_site_toml_names_its_line(tmp_path, capsys, device, message, command):
    """site.toml's `device` is checked as the site is read: its line, whatever the command (a
    build named neither the file nor the line; `layers` named the model's line)."""
    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    toml = f'title = "t"\nmodel = "efficientnet_lite0"\ndevice = "{device}"\n'
    (tmp_path / "site.toml").write_text(toml)
    proc = featvis(capsys, command, "--config", str(tmp_path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "site.toml:3: " in lines[0] and message in lines[0], proc.stderr
    assert not (tmp_path / "site_output").exists()


def test_unreadable_weights_file(tmp_path, capsys):
    bad = tmp_path / "weights.pth"
    bad.write_bytes(b"not a checkpoint")
    proc = featvis(capsys, "layers", "--weights", str(bad))
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and "cannot read weights" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_layers_command_prints_the_catalog(capsys):
    proc = featvis(capsys, "layers")
    assert proc.returncode == 0
    rows = [line.split() for line in proc.stdout.splitlines()[2:]]
    assert [r[0] for r in rows][:2] == ["conv_stem", "blocks.0.0"]
    assert rows[-1][:2] == ["conv_head", "1280"] and rows[-1][-1] == "objects"


def test_cpu_models_use_channels_last_and_fall_back_when_a_forward_refuses(lite0, monkeypatch):  # type: ignore[no-untyped-def]
    weight = lite0.net.conv_stem.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and weight.shape[1] == 3
    from generator.models import catalog

    real = catalog.probe_catalog

    def refuses_channels_last(net, *args, **kwargs):  # type: ignore[no-untyped-def]
        first = next(p for p in net.parameters() if p.dim() == 4)
        if first.is_contiguous(memory_format=torch.channels_last) and not first.is_contiguous():
            raise RuntimeError("view size is not compatible with input tensor's size and stride")
        return real(net, *args, **kwargs)

    monkeypatch.setattr(catalog, "probe_catalog", refuses_channels_last)
    model = load_model("timm:resnet18", random_weights=True, device="cpu")
    assert model.net.conv1.weight.is_contiguous() and model.layers


def test_read_names_the_most_likely_classes(lite0, sample_dir):  # type: ignore[no-untyped-def]
    photos = [sample_dir / "n01440764_tench.jpg", sample_dir / "n02317335_starfish.jpg"]
    views = torch.stack(
        [TF.to_tensor(TF.center_crop(TF.resize(Image.open(p).convert("RGB"), 256), 224))
         for p in photos]
    )
    read = lite0.read(views, k=5)
    assert [r[0][0] for r in read] == [0, 327], "tench and starfish, each its own class first"
    with torch.inference_mode():
        probs = lite0.net(lite0.preprocess(views)).softmax(1)
    for row, p in zip(read, probs, strict=True):
        assert len(row) == 5 and [k for k, _ in row] == p.topk(5).indices.tolist()
        # the same forward pass: 0 difference on every kernel path measured (tolerances.md)
        assert all(abs(q - float(p[k])) < 1e-5 for k, q in row)
    # Another size is resized to the input size as a whole, like the photos in a scan.
    bigger = torch.nn.functional.interpolate(views, size=(256, 256), mode="bilinear",
                                             align_corners=False)
    assert [r[0][0] for r in lite0.read(bigger, k=1)] == [0, 327]


def test_read_without_class_names_is_empty(lite0):  # type: ignore[no-untyped-def]
    import dataclasses

    nameless = dataclasses.replace(lite0, class_names=())
    assert nameless.read(torch.rand(2, 3, 64, 64)) == [[], []]
    # A head with another label set (10 logits) is not read with ImageNet's names.
    other_head = torch.nn.Sequential(lite0.net, torch.nn.Linear(1000, 10)).eval()
    assert dataclasses.replace(lite0, net=other_head).read(torch.rand(2, 3, 64, 64)) == [[], []]


def test_a_head_without_class_names_has_its_logits_as_classes(lite0):  # type: ignore[no-untyped-def]
    import dataclasses

    assert lite0.classes == 1000 and lite0.class_name(1) == lite0.class_names[1]
    nameless = dataclasses.replace(lite0, class_names=(), classes=10)
    assert nameless.class_index(9) == 9 and nameless.class_name(9) == "class 9"
    with pytest.raises(FeatvisError, match=r"class 10 out of range \(valid: 0\.\.9\)"):
        nameless.class_index(10)
    unknown = dataclasses.replace(lite0, class_names=(), classes=0)
    with pytest.raises(FeatvisError, match=r"class 0 out of range \(its output has none\)"):
        unknown.class_index(0)


def test_a_class_name_several_classes_share_is_refused_naming_them(lite0):  # type: ignore[no-untyped-def]
    import dataclasses

    # ImageNet's own list: Cardigan the dog (264) and cardigan the sweater (474)
    assert lite0.class_index("Cardigan") == 264 and lite0.class_index("cardigan") == 474
    with pytest.raises(FeatvisError, match=r"class 'CARDIGAN' names 2 classes: 264 \(Cardigan\), "
                       r"474 \(cardigan\); give its index instead$"):
        lite0.class_index("CARDIGAN")
    # a photo folder's name is no class: the line says what a class is and offers near names
    with pytest.raises(FeatvisError, match=r"unknown class 'dogs': not one of the model's 1000 "
                       r"output classes \(did you mean: dogsled"):
        lite0.class_index("dogs")
    # a label file listing crane twice (the bird and the machine)
    names = list(lite0.class_names)
    names[134] = "crane"
    twice = dataclasses.replace(lite0, class_names=tuple(names))
    with pytest.raises(FeatvisError, match=r"names 2 classes: 134 \(crane\), 517 \(crane\)"):
        twice.class_index("crane")
    assert twice.class_index(134) == 134 and twice.class_index("goldfish") == 1


def test_a_transformer_checkpoint_of_another_input_size_says_to_set_input_size() -> None:
    """A ViT saved at 224 px loaded at `input_size = 96`: its position embedding has another
    number of patches; the line says which key to set, not only the shapes."""
    from generator.models.weights import mismatch

    expected = {"pos_embed": torch.zeros(1, 37, 192), "head.weight": torch.zeros(10, 192)}
    state = {"pos_embed": torch.zeros(1, 197, 192), "head.weight": torch.zeros(10, 192)}
    why = mismatch(expected, state)
    assert why is not None and why.startswith("1 of another shape, e.g. pos_embed (1, 197, 192)")
    assert "input_size" in why
    assert "input_size" not in (mismatch({"fc": torch.zeros(2)}, {"fc": torch.zeros(3)}) or "")
