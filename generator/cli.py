"""Command-line interface: argument parsing only. Each command calls into `generator.commands`.

Handlers are named by their module in `generator.commands` and imported on use, so `featvis
--help` stays fast and each verb family owns its module. A `FeatvisError` becomes one line on
stderr and exit code 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from generator import __version__
from generator.config.presets import PRESETS
from generator.config.schema import (
    BATCH_SIZE,
    CHANNELS,
    CLOSURE,
    PORT,
    SEED,
    SIZE,
    STEPS,
    WORKERS,
    Option,
    choice,
    parse_flag,
)
from generator.config.site import SITE_OPTIONS
from generator.core.errors import MAX_LINE, OUT_OF_ROOM, FeatvisError, one_line
from generator.core.memory import keep_freed_memory

COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init:cmd_init", "start a site: a site.toml and the flagship articles"),
    "layers": ("demo:cmd_layers", "list every visualizable layer of a model"),
    "demo": ("demo:cmd_demo", "render a few channels from a few layers to PNG"),
    "compute": ("compute:cmd_compute", "compute the visualizations the site needs"),
    "status": ("compute:cmd_status", "show what is cached and what is missing"),
    "scan": ("scan:cmd_scan", "scan the dataset folder for dataset examples"),
    "build": ("build:cmd_build", "plan, compute, render, check and publish the site"),
    "render": ("build:cmd_render", "render the site from the cache only"),
    "check": ("check:cmd_check", "check a built site: links, fragments, images, offline"),
    "serve": ("serve:cmd_serve", "preview the site on 127.0.0.1, rebuilt as you edit it"),
    "clean": (
        "build:cmd_clean",
        "remove the built site (and with --all, the cache; with --unused, only the cache entries "
        "the site no longer reads)",
    ),
}


def _config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", default=None,
        help="site.toml to read, or its folder (default: ./site.toml if present)"
    )


# the commands that show progress (`--quiet` silences it) and those that read no site.toml
QUIET = ("compute", "scan", "build", "render", "serve")
NO_CONFIG = ("init",)  # it writes one


def _common(p: argparse.ArgumentParser, name: str) -> None:
    if name not in NO_CONFIG:
        _config(p)
    p.add_argument(
        "--model",
        default=None,
        help="efficientnet_lite0 (default), torchvision:NAME, timm:NAME, python:FILE.py:FUNCTION",
    )
    p.add_argument("--weights", default=None, help="a local checkpoint for the model")
    p.add_argument(
        "--random-weights", action="store_true",
        help="an untrained network: weights drawn from the seed, no checkpoint",
    )
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--seed", default=None, help="base random seed")
    if name in QUIET:
        p.add_argument("--quiet", action="store_true", help="no progress bars")


def _folders(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache", default=None, help="the artifact cache folder (default .featvis-cache)"
    )
    p.add_argument("--output", default=None, help="the site folder (default site_output)")


def _site(p: argparse.ArgumentParser, name: str) -> None:
    if name != "scan":  # a scan reads photos at the model's input size into the cache alone
        p.add_argument("--preset", default=None, help="quick, standard, full")
    p.add_argument("--dataset", default=None, help="a folder of images for dataset examples")
    p.add_argument(
        "--cache", default=None, help="the artifact cache folder (default .featvis-cache)"
    )
    if name != "scan":
        p.add_argument("--output", default=None, help="the site folder (default site_output)")
    if name not in ("render", "status"):  # they compute nothing
        p.add_argument("--batch-size", default=None, help="images per optimizer batch")


# What `featvis --help` tells a user (the module docstring is for the code's readers).
ABOUT = (
    "featvis builds a static website that shows how an image network sees: feature\n"
    "visualizations of every layer, Distill-style articles written in Markdown and an explorer\n"
    "with a page for every layer and channel, readable offline from its folder."
)
FIRST_STEPS = (
    "first steps: `featvis init mysite`, then `cd mysite && featvis build` and open\n"
    "site_output/index.html; `featvis COMMAND --help` gives each command's flags."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="featvis", description=ABOUT, epilog=FIRST_STEPS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"featvis {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == "clean":  # its folders alone; with --unused, the site as `render` reads it
            _config(p)
            _folders(p)
            which = p.add_mutually_exclusive_group()
            which.add_argument("--all", action="store_true", help="also remove the artifact cache")
            which.add_argument(
                "--unused", action="store_true",
                help="remove only the cache entries this site with its preset no longer reads "
                "(reads the site as `render` does; keeps the built site). A cache shared with "
                "other sites or presets loses their entries",
            )
            p.add_argument("--preset", default=None, help="with --unused: quick, standard, full")
            for flag in ("size", "steps", "channels", "closure"):
                p.add_argument(
                    f"--{flag}", default=None, help=f"with --unused: as `build --{flag}`"
                )
            continue
        if name == "check":  # reads a built site: which one, and nothing else
            _config(p)
            p.add_argument("--output", default=None, help="the site folder (default site_output)")
            p.add_argument(
                "path", nargs="?", default=None,
                help="the built site's folder, or a project's (its site.toml names the site; "
                "default site_output)",
            )
            continue
        _common(p, name)
        if name in ("compute", "status", "scan", "build", "render", "serve"):
            _site(p, name)
        if name in ("compute", "status", "scan"):  # a build renders the whole site
            p.add_argument(
                "--only", action="append", default=None, help="a layer or page to restrict to"
            )
        if name in ("compute", "build", "scan"):
            p.add_argument("--force", action="store_true", help="recompute even what is cached")
        if name in ("compute", "build", "serve"):
            p.add_argument(
                "--workers", default=None,
                help="processes computing on a CPU (default: one per core, at most 8)",
            )
        if name in ("compute", "status", "build", "render", "serve"):
            p.add_argument("--size", default=None, help="image size (overrides preset)")
            p.add_argument(
                "--steps", default=None, help="optimizer steps (overrides preset)"
            )
            p.add_argument(
                "--channels",
                default=None,
                help="channels per explorer layer (overrides preset)",
            )
            p.add_argument(
                "--closure", default=None,
                help="circuit closure: visualizations added, a share of the plan's (overrides "
                "preset; 0: none)",
            )
        if name == "layers":
            p.add_argument(
                "--input-size", default=None,
                help="the model's input size in pixels, or HxW (height x width; default: "
                "site.toml's, else the family's)",
            )
        if name == "demo":
            p.add_argument("--out", default="demo_output", help="folder for the PNGs")
            p.add_argument("--steps", default=None, help="optimizer steps (default 128)")
            p.add_argument("--size", default=None, help="image size in pixels (default 128)")
            p.add_argument(
                "--unit",
                action="append",
                default=None,
                metavar="LAYER:CHANNEL",
                help="a channel to render (repeatable); default: a spread over the bands",
            )
        if name in ("build", "render", "serve"):
            p.add_argument(
                "--strict", action="store_true", help="fail on any warning; publish nothing"
            )
        if name == "serve":
            p.add_argument("--port", default="8000", help="port (default 8000; 0: any free one)")
            p.add_argument(
                "--host", default="127.0.0.1",
                help="address to listen on (default 127.0.0.1; another exposes the site)",
            )
            p.add_argument(
                "--no-watch", action="store_true",
                help="serve the built site as it is: no rebuilds, no reloads",
            )
        if name == "init":
            p.add_argument("path", nargs="?", default=".", help="the new site's folder (default .)")
    return parser


# Typed flags, checked by the same schema as site.toml: (flag, option) by argparse destination.
TYPED_FLAGS = {
    "seed": ("--seed", SEED),
    "batch_size": ("--batch-size", BATCH_SIZE),
    "workers": ("--workers", WORKERS),
    "size": ("--size", SIZE),
    "steps": ("--steps", STEPS),
    "channels": ("--channels", CHANNELS),
    "closure": ("--closure", CLOSURE),
    "port": ("--port", PORT),
    "input_size": ("--input-size", SITE_OPTIONS["input_size"]),
    "preset": ("--preset", Option(choice(*PRESETS))),
    "device": ("--device", SITE_OPTIONS["device"]),
}


def check_flags(args: argparse.Namespace) -> argparse.Namespace:
    """Every typed flag through its option: one line naming the flag when it does not fit."""
    for dest, (flag, option) in TYPED_FLAGS.items():
        if hasattr(args, dest):
            setattr(args, dest, parse_flag(flag, option, getattr(args, dest)))
    return args


def _handler(name: str):  # type: ignore[no-untyped-def]
    module, _, func = COMMANDS[name][0].partition(":")
    return getattr(importlib.import_module(f"generator.commands.{module}"), func)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_freed_memory()  # the commands' tensor work reuses freed blocks (generator.core.memory)
    from generator.cache.entries import one_line_warnings  # torch: not for --help

    try:
        with one_line_warnings():  # a damaged cache entry: one `featvis: warning:` line
            return int(_handler(args.command)(check_flags(args)) or 0)
    except FeatvisError as exc:
        prefix = "featvis: error: "
        print(prefix + one_line(str(exc), MAX_LINE - len(prefix)), file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `featvis status | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return BROKEN_PIPE
    except OSError as exc:
        if exc.errno not in OUT_OF_ROOM:
            raise
        line = f"{exc.filename or 'a file'}: cannot write it ({exc.strerror})"
        print("featvis: error: " + one_line(line, MAX_LINE - 16), file=sys.stderr)
        return FeatvisError.exit_code
    except KeyboardInterrupt:
        print("featvis: interrupted", file=sys.stderr)
        return 130
    finally:
        _forget_caught_interrupts()


def _forget_caught_interrupts() -> None:
    """The exit code `main` returns is the process's, even after a caught Ctrl-C or a signal
    `serve` turns into one. CPython marks a KeyboardInterrupt raised inside `exec` of a string
    as never caught, whoever catches it later, and then ends the process by SIGINT at exit.
    `dataclasses` builds its methods that way, so a signal during an import (torch's, the
    first seconds of every command) set that mark. Running any string clears it."""
    exec("")  # noqa: S102


BROKEN_PIPE = 128 + 13  # what a shell reports for a command that SIGPIPE ended (SIGPIPE is 13)


if __name__ == "__main__":
    raise SystemExit(main())
