"""`python:path/to/file.py:build` or `python:package.module:build`: a network the user wrote.

The factory is called with no arguments and must return a `torch.nn.Module` (an image
classifier taking (B, 3, H, W)). Its weights are the factory's own (it may load them itself) unless
a `weights` file is given, which must fit the architecture exactly. Input size, normalization,
class names and the layers to show come from the load options (site.toml); without `layers`, the
generic catalog. Every way this can go wrong is a one-line `FeatvisError` naming the file.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from torch import nn

from generator.config.model_ids import PYTHON, beside, is_file_target, split_python
from generator.core.errors import FeatvisError, choices_hint
from generator.models.families import Built, Family, LoadOptions
from generator.models.weights import load_into, read_state_dict

PREFIX = PYTHON.prefix


def _where(exc: BaseException, path: Path | None) -> str:
    """`file.py:LINE` of the innermost frame in the user's file (or of a syntax error)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if path is not None and Path(f.filename) == path] or frames[-1:]
    return f"{mine[-1].filename}:{mine[-1].lineno}" if mine else str(path)


def _oneline(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"sys.exit({exc.code!r}) (a model's code must return, not end the program)"
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


def _import_file(path: Path) -> ModuleType:
    """Import the file as a script runs: its folder first on the path, so that it imports the
    modules beside it (`from blocks import Block`), at import or when its factory runs."""
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    name = f"featvis_user_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FeatvisError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up here
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure is the user's file
        del sys.modules[name]
        raise FeatvisError(f"{_where(exc, path)}: cannot import ({_oneline(exc)})") from None
    return module


def _import(target: str, root: Path) -> tuple[ModuleType, Path | None]:
    if is_file_target(target):
        path = (root / target).resolve()
        if not path.is_file():
            raise FeatvisError(f"{path}: no such file (model 'python:{target}:...')")
        return _import_file(path), path
    if beside(target.split(".")[0], root) and str(root) not in sys.path:
        sys.path.insert(0, str(root))  # a package beside site.toml comes first
    try:
        module = importlib.import_module(target)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a missing module or one that fails to import
        raise FeatvisError(f"model 'python:{target}': cannot import ({_oneline(exc)})") from None
    file = getattr(module, "__file__", None)
    return module, Path(file) if file else None


def load_factory(spec: str, root: Path) -> tuple[Callable[[], object], str]:
    target, function = split_python(spec)
    module, path = _import(target, root)
    where = str(path) if path else target
    factory = getattr(module, function, None)
    if not callable(factory):
        functions = [n for n, v in vars(module).items() if inspect.isfunction(v)]
        raise FeatvisError(
            f"{where}: no function '{function}' ({choices_hint(function, functions, limit=8)})"
        )
    return factory, where


def build(spec: str, options: LoadOptions) -> Built:
    factory, where = load_factory(spec, options.root)
    name = getattr(factory, "__name__", "factory")
    try:
        net = factory()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's code, sys.exit() too
        raise FeatvisError(f"{_where(exc, Path(where))}: {name}() raised {_oneline(exc)}") from None
    if not isinstance(net, nn.Module):
        raise FeatvisError(
            f"{where}: {name}() returned {type(net).__name__}, not a torch.nn.Module"
        )
    if not any(True for _ in net.parameters()):
        raise FeatvisError(f"{where}: {name}() returned a module without parameters")
    source = "random" if options.random_weights else f"{where}:{name}"
    if options.weights and not options.random_weights:
        load_into(net, read_state_dict(options.weights), options.weights, spec)
        source = options.weights
    return Built(net=net, source=source, imagenet=False, description=_describe(net, factory),
                 code=_source_digest(factory))


def _source_digest(factory: Callable[[], object]) -> str:
    """sha256 of the file that defines the factory: an edit to the network's code (a forward pass,
    an activation, no weights) changes what it computes, so the cache keys change too."""
    try:
        file = inspect.getsourcefile(factory)
        return hashlib.sha256(Path(file).read_bytes()).hexdigest() if file else ""
    except (OSError, TypeError):
        return ""


def _describe(net: nn.Module, factory: Callable[[], object]) -> str:
    """The factory's docstring (first paragraph), else the network's class name."""
    doc = inspect.getdoc(factory) or ""
    first = doc.split("\n\n")[0].replace("\n", " ").strip()
    return first or f"A {type(net).__name__} network."


FAMILY = Family(ids=PYTHON, build=build)
