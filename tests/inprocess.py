"""`featvis` commands run in this process, printing what the command in a process of its own
prints, without the seconds a fresh interpreter spends importing torch and the model families.

A test that needs a process of its own (a kill, a signal, what an import prints, an exit code
that only a real process has) starts one; the others run `featvis_here`. What the command prints
is read from `capture` (pytest's capsys or capfd: capfd also reads what the processes it starts
print), or where no capture is given (a module-scoped fixture) from the command's sys.stdout and
sys.stderr. A Python warning it raises is added to the end of stderr, as Python would print it in
a process of its own (where DeprecationWarning and its kind stay silent outside `__main__`).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from generator.cli import main

# Python's own filters in a process started without -W: these categories print nothing
SILENT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


@dataclass(frozen=True)
class Ran:
    """What `subprocess.run(..., capture_output=True, text=True)` answers, for a command run
    here."""

    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def featvis_here(
    *argv: str, capture: pytest.CaptureFixture[str] | None = None, cwd: Path | None = None,
    threads: int | None = None, ok: bool = True,
) -> Ran:
    """`featvis ARGV` in this process, in `cwd` (the test's where none is given), with `threads`
    torch threads (this process's where none is given); with `ok`, it must exit 0."""
    out, err = io.StringIO(), io.StringIO()
    if capture is not None:
        capture.readouterr()
    with contextlib.ExitStack() as stack:
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        if capture is None:
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(err))
        stack.enter_context(_threads(threads))
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.resetwarnings()
        warnings.simplefilter("default")
        for category in SILENT:
            warnings.simplefilter("ignore", category)
        code = main(list(argv))
    if capture is not None:
        printed = capture.readouterr()
        stdout, stderr = printed.out, printed.err
    else:
        stdout, stderr = out.getvalue(), err.getvalue()
    stderr += "".join(
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught
    )
    ran = Ran(code, stdout, stderr)
    if ok:
        assert code == 0, stderr
    return ran
