"""`featvis check [DIR]`: every link resolves inside the site, no external URL, every image decodes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from generator.check import check_site, report
from generator.commands.common import config_from_args
from generator.core.errors import FeatvisError
from generator.core.words import counted


def cmd_check(args: argparse.Namespace) -> int:
    """featvis check [PATH]: check a built site (default: the configured output folder); a
    project's folder, its site.toml beside and no index.html, stands for the site it builds."""
    root = Path(args.path) if getattr(args, "path", None) else None
    if root is not None and (root / "site.toml").is_file() and not (root / "index.html").exists():
        args.config, root = str(root), None
    if root is None:
        root = config_from_args(args, models=False).output_dir
    problems = check_site(root)
    if problems:
        report(problems)
        raise FeatvisError(
            f"{root}: {counted(len(problems), 'problem')} (listed above)"
        )
    pages = sum(1 for _ in Path(root).rglob("*.html"))
    files = sum(1 for p in Path(root).rglob("*") if p.is_file())
    print(
        f"featvis: {root}: ok ({pages} pages, {files} files; every link resolves, nothing external)"
    )
    return 0
