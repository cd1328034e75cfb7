"""site.toml -> a frozen, validated `SiteConfig`.

Every key is known; an unknown key, a wrong type or a bad value is a `FeatvisError` naming the file,
the line where the key stands and the valid choices. Paths are resolved against the folder that
holds site.toml. Command-line flags override the file through `with_overrides`.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.config.lines import (
    entry_key_where,
    entry_where,
    key_where,
    recipe_where,
    toml_error,
)
from generator.config.paths import EXPECTED, FILE_KEYS, PATH_KEYS, check_path, refuse_empty
from generator.config.presets import PRESETS, Preset
from generator.config.recipe import check_option
from generator.config.schema import (
    BATCH_SIZE,
    DATASET_TOP_K,
    SEED,
    WORKERS,
    Option,
    boolean,
    choice,
    device,
    normalization,
    parse_options,
    pathname,
    side_or_sides,
    text,
    texts,
    words,
)
from generator.core.errors import FeatvisError
from generator.core.urls import model_folder


@dataclass(frozen=True)
class ModelSpec:
    """One model of the site and how to load it: the id (`efficientnet_lite0`,
    `torchvision:NAME`, `timm:NAME`, `python:FILE:FUNCTION`), a checkpoint, the input size and
    normalization, a class-name file and the module paths to show (None: the family's choice).
    `where` names the site.toml line that declared it, for error messages."""

    id: str
    weights: Path | None = None
    random_weights: bool = False  # drawn from the site's seed, not loaded
    input_size: int | tuple[int, int] | None = None  # one number: a square; else (H, W)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    classes: Path | None = None
    layers: tuple[str, ...] | None = None
    explorer_layers: tuple[str, ...] | None = None  # None: the site's `explorer_layers`
    where: str = "config"
    name: str | None = None  # how pages name it (None: `models.site.display_name`'s choice)

    @property
    def folder(self) -> str:
        """Its explorer folder (`core.urls.model_folder` of its id and name)."""
        return model_folder(self.id, self.name)


def _key(option: Option, default: Any = None) -> Any:
    """A site.toml key, declared once: its field's default, and in the field's metadata the
    option that types, ranges and documents it (`SITE_OPTIONS` is read from these)."""
    return dataclasses.field(default=default, metadata={"option": option})


@dataclass(frozen=True)
class SiteConfig:
    """The site: every field but `root`, `source`, `toml` (the site.toml read and its text) and
    `flags` (the keys the command line gave) is a site.toml key (`SITE_OPTIONS`)."""

    root: Path
    title: str = _key(Option(words), "featvis")
    description: str = _key(Option(text), "How a neural network sees, layer by layer.")
    model: str = _key(Option(text), "efficientnet_lite0")
    weights: Path | None = _key(Option(pathname(EXPECTED["weights"])))
    random_weights: bool = _key(
        Option(boolean, doc="an untrained network: weights drawn from `seed`, none loaded"), False
    )
    input_size: int | tuple[int, int] | None = _key(Option(
        side_or_sides(16, 4096), doc="the model's input size in pixels, or [H, W] (height, width)"
    ))
    mean: tuple[float, ...] | None = _key(
        Option(normalization(), doc="the model's input normalization mean (R, G, B), or 1 (grey)")
    )
    std: tuple[float, ...] | None = _key(
        Option(normalization(positive=True),
               doc="the model's input normalization std (R, G, B), or 1 (grey); > 0")
    )
    classes: Path | None = _key(
        Option(pathname(EXPECTED["classes"]), doc="a text file of class names, one a line")
    )
    layers: tuple[str, ...] | None = _key(
        Option(texts, doc="the module paths to show (default: the family's catalog)")
    )
    name: str | None = _key(  # None: `models.site.display_name`'s choice
        Option(words, doc="the model's display name in titles and the explorer")
    )
    models: tuple[ModelSpec, ...] = _key(  # () : `model` alone
        Option(lambda v: v, doc="several models: ids, or tables with their options"), ()
    )
    dataset: Path | None = _key(Option(pathname(EXPECTED["dataset"])))
    content_dir: Path = _key(Option(pathname(EXPECTED["content_dir"])), Path("content"))
    # None: the templates featvis ships
    templates_dir: Path | None = _key(Option(pathname(EXPECTED["templates_dir"])))
    output_dir: Path = _key(Option(pathname(EXPECTED["output_dir"])), Path("site_output"))
    cache_dir: Path = _key(Option(pathname(EXPECTED["cache_dir"])), Path(".featvis-cache"))
    preset: str | None = _key(Option(choice(*PRESETS)))  # None: `full` on a GPU, else `standard`
    device: str = _key(Option(device), "auto")
    seed: int = _key(SEED, 0)
    batch_size: int | None = _key(BATCH_SIZE)
    workers: int | None = _key(WORKERS)  # CPU processes; None: one per usable core, at most 8
    explorer_layers: tuple[str, ...] | None = _key(Option(texts))  # None: every layer
    dataset_top_k: int = _key(DATASET_TOP_K, 8)
    unsafe_html: bool = _key(Option(boolean, False, doc="let raw HTML in articles through"), False)
    strict: bool = _key(Option(boolean, doc="fail the build on any warning"), False)
    recipe: tuple[tuple[str, Any], ...] = _key(  # (key, value) pairs, checked
        Option(lambda v: v, doc="the optimizer recipe: steps, lr, schedule, optimizer, ..."), ()
    )
    source: Path | None = None  # the site.toml read, if any
    toml: str = dataclasses.field(default="", repr=False, compare=False)  # its text: lines named
    flags: tuple[str, ...] = dataclasses.field(default=(), compare=False)  # keys from the flags

    def where(self, key: str) -> str:
        """`site.toml:LINE` of a key, from the text read once (the file alone when the key is not
        in it; 'config' without a file); `--weights` for a key the command line gave."""
        if key in self.flags:
            return _FLAGS.get(key, "--" + key.replace("_", "-"))
        return key_where(self.source, self.toml, key)

    @property
    def model_specs(self) -> tuple[ModelSpec, ...]:
        """The site's models, the first one the articles' default: `models`, or `model` with
        its options."""
        if self.models:
            return self.models
        spec = ModelSpec(
            id=self.model,
            weights=self.weights,
            random_weights=self.random_weights,
            input_size=self.input_size,
            mean=self.mean,
            std=self.std,
            classes=self.classes,
            layers=self.layers,
            where=self.where("model"),
            name=self.name,
        )
        return (spec,)

    @property
    def model_ids(self) -> tuple[str, ...]:
        """The ids of `model_specs`, from memory (without reading site.toml for their lines)."""
        return tuple(spec.id for spec in self.models) if self.models else (self.model,)

    def explorer_layers_of(self, model_id: str) -> tuple[tuple[str, ...] | None, str]:
        """The explorer layers asked of one model (its table's `explorer_layers`, else the
        site's; None: every layer) and where they were given, for error messages."""
        for spec in self.models:  # `model` alone has no explorer_layers of its own
            if spec.id == model_id and spec.explorer_layers is not None:
                return spec.explorer_layers, spec.where
        return self.explorer_layers, self.where("explorer_layers")

    def preset_for(self, device_type: str) -> Preset:
        """The site's preset (`full` on a GPU, `standard` on a CPU unless `preset` names one),
        with the [recipe] table on top: its `steps` replace the preset's, its other options go
        to every job the site makes."""
        name = self.preset or ("full" if device_type == "cuda" else "standard")
        preset = PRESETS[name]
        if not self.recipe:
            return preset
        options = dict(self.recipe)
        steps = options.pop("steps", preset.steps)
        return dataclasses.replace(preset, steps=steps, recipe=tuple(options.items()))

    def check_inputs(self) -> None:
        """Every path key, and each `models` table's files, checked against what it must name
        (`paths.check_path`) at its site.toml line or flag: before torch or a model loads. The
        content folder only where site.toml or a flag names it: its default's absence is named
        by the commands that read articles (`featvis demo` needs none)."""
        for key in PATH_KEYS:
            where = self.where(key)
            if key != "content_dir" or where not in ("config", str(self.source)):
                check_path(key, getattr(self, key), where)
        for index, spec in enumerate(self.models):
            for key in FILE_KEYS:
                at = spec.where
                if self.source is not None:
                    at = entry_key_where(self.source, self.toml, index, key, spec.where)
                check_path(key, getattr(spec, key), at)

    def with_overrides(self, **changes: Any) -> SiteConfig:
        changes = {k: v for k, v in changes.items() if v is not None}
        given = tuple(changes)  # what the command line gave: errors name its flag
        if "model" in changes:
            changes["name"] = None  # site.toml's name was its model's
        if changes.get("random_weights") and "weights" in changes:
            raise FeatvisError(FLAGS_BOTH)
        if "model" in changes or "weights" in changes:
            changes["models"] = ()  # --model/--weights on the command line: that model alone
        if "weights" in changes:
            changes["random_weights"] = False  # a checkpoint on the command line wins
        elif changes.get("random_weights"):  # every model of the site untrained, no file read
            models = changes.get("models", self.models)
            changes["models"] = tuple(
                dataclasses.replace(spec, weights=None, random_weights=True) for spec in models
            )
            changes["weights"] = None
        for key in PATH_KEYS:
            if changes.get(key) is not None:
                flag = _FLAGS.get(key, "--" + key.replace("_", "-"))
                refuse_empty(flag, str(changes[key]), EXPECTED[key])
                changes[key] = _resolve(Path.cwd(), changes[key])
        if "preset" in changes:  # flags are checked by the schema; a caller's value here too
            preset = {"preset": changes["preset"]}
            parse_options(SITE_OPTIONS, preset, lambda _: "preset", defaults=False)
        return dataclasses.replace(self, **changes, flags=(*self.flags, *given))


# Every key site.toml may hold, typed and ranged by the shared schema: SiteConfig's own fields.
SITE_OPTIONS: dict[str, Option] = {
    f.name: f.metadata["option"] for f in dataclasses.fields(SiteConfig) if "option" in f.metadata
}


def _resolve(base: Path, value: str | Path) -> Path:
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


_FLAGS = {"cache_dir": "--cache", "output_dir": "--output"}  # the flags not named by their key
_MODEL_KEYS = (
    "model", "weights", "random_weights", "input_size", "mean", "std", "classes", "layers", "name"
)


FLAGS_BOTH = "--random-weights and --weights together; give one (random weights load no file)"
_BOTH = "'random_weights = true' beside 'weights'; give one (random weights load no file)"


def _model_list(raw: Any, path: Path, toml: str) -> tuple[ModelSpec, ...]:
    """`models = ["efficientnet_lite0", "torchvision:resnet50"]`, or a list of tables
    `{model = "...", weights = "...", ...}` (each table the keys of one model, and its own
    `explorer_layers` in place of the site's)."""
    where = key_where(path, toml, "models")  # or its first [[models]]
    if not isinstance(raw, list) or not raw:
        raise FeatvisError(f"{where}: 'models' must be a list of model ids or tables, not {raw!r}")
    table = {key: SITE_OPTIONS[key] for key in (*_MODEL_KEYS, "explorer_layers")}
    specs: list[ModelSpec] = []
    for index, item in enumerate(raw):
        entry = {"model": item} if isinstance(item, str) else item
        if not isinstance(entry, dict):
            raise FeatvisError(f"{where}: 'models' entries are ids or tables, not {item!r}")
        at = entry_where(path, toml, where, entry.get("model"), index)
        values = parse_options(
            {**table, "model": Option(text, required=True)},
            entry,
            lambda key: (  # called at once, in this iteration
                entry_key_where(path, toml, index, key, at) if key else at  # noqa: B023
            ),
            "models: ",
            defaults=False,
        )
        if values.get("random_weights") and "weights" in values:
            raise FeatvisError(f"{at}: {_BOTH}")
        for key in ("weights", "classes"):
            if key in values:
                values[key] = _resolve(path.parent, values[key])
        for key in ("layers", "explorer_layers"):
            if key in values:
                values[key] = tuple(str(v) for v in values[key])
        specs.append(ModelSpec(id=values.pop("model"), where=at, **values))
    ids = [spec.id for spec in specs]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise FeatvisError(f"{where}: model '{twice[0]}' is listed twice in 'models'")
    first: dict[str, str] = {}  # folder -> the model that has it
    for spec in specs:
        if spec.folder in first:
            raise FeatvisError(
                f"{spec.where}: models '{first[spec.folder]}' and '{spec.id}' would share the "
                f"explorer folder '{spec.folder}': give them different names"
            )
        first[spec.folder] = spec.id
    return tuple(specs)


def _recipe(raw: Any, path: Path, toml: str) -> tuple[tuple[str, Any], ...]:
    """The [recipe] table (or `recipe = {...}`), every option checked against its range at the
    line where it stands."""
    if not isinstance(raw, dict):
        raise FeatvisError(
            f"{key_where(path, toml, 'recipe')}: 'recipe' must be a table of recipe options "
            f"([recipe] with lines like lr = 0.05), not {raw!r}"
        )
    return tuple(
        (key, check_option(key, value, recipe_where(path, toml, key)))
        for key, value in raw.items()
    )


def load_config(path: Path | None = None, root: Path | None = None) -> SiteConfig:
    """Read `path` (site.toml, or the folder that holds it) if given and present; otherwise the
    defaults rooted at `root`."""
    if path is None:
        base = (root or Path.cwd()).resolve()
        candidate = base / "site.toml"
        path = candidate if candidate.exists() else None
    if path is None:
        base = (root or Path.cwd()).resolve()
        return _finish(SiteConfig(root=base), base)
    path = Path(path).resolve()
    if path.is_dir():
        path = path / "site.toml"
    if not path.is_file():
        raise FeatvisError(f"{path}: config file not found")
    try:
        toml = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise FeatvisError(f"{path}:{line}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise FeatvisError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(toml)
    except tomllib.TOMLDecodeError as exc:
        raise FeatvisError(toml_error(path, toml, str(exc))) from None
    site = data.pop("site", {}) if isinstance(data.get("site"), dict) else {}
    site.update(data)
    values = parse_options(
        SITE_OPTIONS, site, lambda key: key_where(path, toml, key), defaults=False
    )
    if values.get("random_weights") and "weights" in values:
        raise FeatvisError(f"{key_where(path, toml, 'random_weights')}: {_BOTH}")
    base = path.parent
    for key in PATH_KEYS:
        if key in values:
            values[key] = _resolve(base, values[key])
    if "explorer_layers" in values:
        values["explorer_layers"] = tuple(str(v) for v in values["explorer_layers"])
    if "recipe" in values:
        values["recipe"] = _recipe(values["recipe"], path, toml)
    if "models" in values:
        both = [key for key in _MODEL_KEYS if key in values]
        if both:
            raise FeatvisError(
                f"{key_where(path, toml, both[0])}: '{both[0]}' beside 'models'; give each model's "
                "options in its 'models' table (models = [{model = \"...\", weights = \"...\"}])"
            )
        values["models"] = _model_list(values["models"], path, toml)
    return _finish(SiteConfig(root=base, source=path, toml=toml, **values), base)


def _finish(config: SiteConfig, base: Path) -> SiteConfig:
    fixed: dict[str, Any] = {}
    for key in ("content_dir", "output_dir", "cache_dir"):
        value = getattr(config, key)
        if not value.is_absolute():
            fixed[key] = _resolve(base, value)
    return dataclasses.replace(config, **fixed)
