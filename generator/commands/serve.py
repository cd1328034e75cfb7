"""`featvis serve`: the built site on 127.0.0.1 for preview.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
from typing import Any

from generator.commands.common import config_from_args
from generator.core.errors import FeatvisError


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        sys.stderr.write(f"featvis serve: {format % args}\n")


def cmd_serve(args: argparse.Namespace) -> int:

    root = config_from_args(args).output_dir
    if not (root / "index.html").is_file():
        raise FeatvisError(f"{root}: no built site (run `featvis build` first)")
    handler = functools.partial(_QuietHandler, directory=str(root))
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        print(
            f"featvis: serving {root} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C "
            "stops)"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0
