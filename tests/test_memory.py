"""The allocator keeps freed blocks: repeated steps stop faulting in fresh pages."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)

# Forward and backward steps of a small convolution stack at a visualization's sizes, in a fresh
# process (the setting lasts as long as the process): the page faults of the steps after the first.
STEPS = """
import json, resource, sys, torch
from generator.core.memory import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "kept" else None
torch.manual_seed(0)
torch.set_num_threads(1)
net = torch.nn.Sequential(
    torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU6(),
    torch.nn.Conv2d(32, 96, 1), torch.nn.ReLU6(),
    torch.nn.Conv2d(96, 96, 3, padding=1, groups=96), torch.nn.ReLU6(),
    torch.nn.Conv2d(96, 24, 1),
).requires_grad_(False)
x = torch.rand(4, 3, 96, 96, requires_grad=True)
def step():
    x.grad = None
    (net(x) ** 2).mean().backward()
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(8):
    step()
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps({"applied": applied, "faults": after - before}))
"""


# Whether the settings took, alone (no torch): what the environment decides.
APPLIED = """
import json
from generator.core.memory import keep_freed_memory
print(json.dumps({"applied": keep_freed_memory()}))
"""


def _env(**settings: str) -> dict[str, str]:
    """This environment without any malloc settings of its own, plus `settings`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    return {**env, **settings}


def _child(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], check=True,
                          capture_output=True, text=True, env=env or _env())
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _faults(variant: str) -> dict:
    return _child(STEPS, variant)


def test_freed_blocks_are_reused_instead_of_faulted_in_again() -> None:
    defaults, kept = _faults("defaults"), _faults("kept")
    assert kept["applied"] is True
    # eight steps with glibc's defaults fault in thousands of pages (the activations' blocks are
    # given back to the kernel and taken again); with freed blocks kept, few: 20 to 40 times fewer
    # on a quiet machine, about 10 times under a loaded one, so the bound leaves room below that
    assert defaults["faults"] > 1000
    assert kept["faults"] < defaults["faults"] / 5


def test_the_command_line_keeps_freed_memory() -> None:
    # a command that stops on its input (exit 2) before it loads a model: `main` keeps freed
    # blocks before it hands the command on, whatever the command does next
    code = ("from generator import cli; from generator.core import memory; "
            "assert cli.main(['layers', '--model', 'vgg']) == 2; print(memory._applied)")
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True, env=_env())
    assert done.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize("setting", [("MALLOC_TRIM_THRESHOLD_", "131072"),
                                     ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072")])
def test_an_environment_that_tunes_malloc_itself_is_left_alone(setting: tuple[str, str]) -> None:
    assert _child(APPLIED)["applied"] is True  # this test's environment alone: taken
    assert _child(APPLIED, env=_env(**dict([setting])))["applied"] is False
