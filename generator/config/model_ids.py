"""Model ids: how each family's ids are written, and the checks that need no network, no weights,
no torch and no import of the user's code.

`ID_FORMS` lists the forms: the embedded EfficientNet-Lites by name, `torchvision:NAME`,
`timm:NAME` and `python:FILE.py:FUNCTION` (or `python:package.module:FUNCTION`); the families of
`generator.models.zoo` take their forms from here. `check_model_id(spec, root)` answers a
misspelt id in one line with the closest ids: an unknown family or embedded name at once; a
torchvision or timm name against the list its library gives (which imports that library, and
with it torch: only for an id of that family); a `python:` id's form, its file or package, and
that the file (read, not run) defines the function.
"""

from __future__ import annotations

import ast
import difflib
import importlib.machinery
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from generator.core.errors import FeatvisError, choices_hint

LITE_NAMES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
DEFAULT_MODEL = LITE_NAMES[0]


@dataclass(frozen=True)
class IdForm:
    """How the ids of one family are written: a common prefix, or a list of names."""

    family: str
    form: str  # for error messages
    prefix: str = ""
    names: tuple[str, ...] = ()

    def matches(self, spec: str) -> bool:
        return spec.startswith(self.prefix) if self.prefix else spec in self.names


LITE = IdForm("efficientnet-lite", ", ".join(LITE_NAMES), names=LITE_NAMES)
TORCHVISION = IdForm("torchvision", "torchvision:NAME", "torchvision:")
TIMM = IdForm("timm", "timm:NAME", "timm:")
PYTHON = IdForm(
    "python", "python:path/to/file.py:function or python:package.module:function", "python:"
)
ID_FORMS = (LITE, TORCHVISION, TIMM, PYTHON)
MODEL_FORMS = ", ".join(form.form for form in ID_FORMS)


def form_of(spec: str) -> IdForm:
    """The form `spec` is written in; an unknown one is an error with the closest id."""
    for form in ID_FORMS:
        if form.matches(spec):
            return form
    raise FeatvisError(f"unknown model '{spec}' ({_hint(spec)}valid: {MODEL_FORMS})")


def _hint(spec: str) -> str:
    """'did you mean: X? ' for a misspelt embedded name or family prefix, else ''."""
    head, colon, rest = spec.partition(":")
    listed = [name for form in ID_FORMS for name in form.names]
    prefixes = {form.prefix: form.prefix + rest for form in ID_FORMS if form.prefix}
    close = difflib.get_close_matches(spec, listed, n=1, cutoff=0.6)
    if colon:
        close += [prefixes[p] for p in difflib.get_close_matches(head + colon, prefixes, n=1)]
    return f"did you mean: {', '.join(close)}? " if close else ""


def library_names(form: IdForm) -> list[str]:
    """The model names torchvision's or timm's registry lists (importing that library)."""
    if form is TORCHVISION:
        import torchvision

        return list(torchvision.models.list_models(module=torchvision.models))
    import timm

    return list(timm.list_models())


def suggestions(name: str, available: Sequence[str], n: int = 3) -> list[str]:
    """The `n` names a person who typed `name` most likely meant: the shortest that begin with
    it (`vit_tiny` -> `vit_tiny_patch16_224`), then the closest spellings; case aside."""
    typed = name.lower()
    begin = sorted((a for a in available if a.lower().startswith(typed)), key=len)
    lowered = {a.lower(): a for a in available}
    close = [lowered[c] for c in difflib.get_close_matches(typed, list(lowered), n=n, cutoff=0.5)]
    return list(dict.fromkeys([*begin[:n], *close]))[:n]


def check_listed(name: str, form: IdForm) -> None:
    """An error for a torchvision or timm model `name` (the id less its prefix) its library
    does not list."""
    available = library_names(form)
    if name in available:
        return
    close = suggestions(name, available)
    mean = f"did you mean: {', '.join(form.prefix + c for c in close)}? " if close else ""
    where = "torchvision.models.list_models()" if form is TORCHVISION else "timm.list_models()"
    raise FeatvisError(
        f"unknown {form.family} model '{name}' ({mean}valid: the {len(available)} names of "
        f"{where})"
    )


def split_python(spec: str) -> tuple[str, str]:
    """(file or module, function) of a `python:` id."""
    target, sep, function = spec[len(PYTHON.prefix) :].rpartition(":")
    if not sep or not target or not function.isidentifier():
        raise FeatvisError(f"model '{spec}': expected {PYTHON.form}")
    return target, function


def is_file_target(target: str) -> bool:
    """Whether a `python:` id names a file (else a module found on sys.path)."""
    return target.endswith(".py") or "/" in target


def beside(package: str, root: Path) -> bool:
    """Whether the top-level module or package `package` is in the folder `root` (the site's:
    a package beside site.toml is found wherever featvis runs from)."""
    try:
        return _beside(package, root) is not None
    except (ImportError, ValueError):
        return False


def _beside(package: str, root: Path) -> importlib.machinery.ModuleSpec | None:
    return importlib.machinery.PathFinder.find_spec(package, [str(root)])


def check_python(spec: str, root: Path) -> None:
    """A `python:` id's form, that its file (relative to `root`) or its top-level package (in
    `root` or on the Python path) is there, and that the file (a module's, where its source is
    found) defines the function at its top level; a file that may bind names it does not write
    out (`import *`, `globals()`) is taken at its word until it loads."""
    target, function = split_python(spec)
    if is_file_target(target):
        path = (root / target).resolve()
        if not path.is_file():
            raise FeatvisError(f"model '{spec}': {path}: no such file")
        _check_defines(path, function)
        return
    package, *inner = target.split(".")
    try:
        found = _beside(package, root) or importlib.util.find_spec(package)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise FeatvisError(
            f"model '{spec}': no module '{package}' in {root} or on the Python path"
        )
    source = _module_source(found, inner)
    if source is not None:
        _check_defines(source, function)


def _module_source(package: importlib.machinery.ModuleSpec, inner: list[str]) -> Path | None:
    """The source file of `package`'s submodule `inner` (the package itself where empty), found
    without importing anything, or None."""
    if not inner:
        origin = package.origin
        return Path(origin) if origin and origin.endswith(".py") else None
    for folder in package.submodule_search_locations or ():
        for path in (Path(folder, *inner).with_suffix(".py"), Path(folder, *inner, "__init__.py")):
            if path.is_file():
                return path
    return None


def _check_defines(path: Path, function: str) -> None:
    """An error naming the functions `path` defines when it binds no top-level `function`, or
    naming its line when it is not valid Python."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        raise FeatvisError(
            f"{path}:{exc.lineno}: cannot import (SyntaxError: {exc.msg})"
        ) from None
    except (OSError, ValueError) as exc:
        raise FeatvisError(f"{path}: cannot read ({exc})") from None
    bound, functions = _top_level_names(tree)
    if bound is None or function in bound:
        return
    raise FeatvisError(
        f"{path}: no function '{function}' ({choices_hint(function, functions, limit=8)})"
    )


def _top_level_names(tree: ast.Module) -> tuple[set[str] | None, list[str]]:
    """(every name the module binds at its top level, or None where it may bind names that are
    not written out; the functions it defines)."""
    bound: set[str] = set()
    functions: list[str] = []
    body = list(tree.body)
    while body:
        node = body.pop(0)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.append(node.name)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
            continue
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return None, functions
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
            continue
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and child.id in ("globals", "__getattr__"):
                return None, functions
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                bound.add(child.id)
        if isinstance(node, ast.If | ast.Try | ast.With | ast.For | ast.While):
            inner = ast.iter_child_nodes(node)
            handlers = (n.body for n in inner if isinstance(n, ast.ExceptHandler))
            body[:0] = [n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt)]
            body[:0] = [n for block in handlers for n in block]
    return (None if "__getattr__" in bound else bound), functions


def check_model_id(spec: str, root: Path) -> IdForm:
    """The form of `spec` after every check that needs no network, no weights and no import of
    the user's code (see the module docstring); `root`: where a `python:` file is read from."""
    form = form_of(spec)
    if form in (TORCHVISION, TIMM):
        check_listed(spec.removeprefix(form.prefix), form)
    elif form is PYTHON:
        check_python(spec, root)
    return form
