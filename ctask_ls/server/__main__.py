"""``ctask-ls`` / ``python -m ctask_ls``: start the language server.

stdio by default (``--stdio`` is accepted because VS Code's client adds it);
``--tcp`` and ``--ws`` listen on 127.0.0.1 unless ``--host`` says otherwise.
The server's diagnostics go to stderr (``--log-level``); the editor gets
``window/logMessage``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import typing as t

from ctask_ls import __version__

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2087


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctask-ls",
        description="The ctask language server: ctask.* commands and lease/diff notifications for editors.",
    )
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="talk JSON-RPC over stdin/stdout (the default)")
    transport.add_argument("--tcp", action="store_true", help="listen for one client over TCP")
    transport.add_argument("--ws", action="store_true", help="listen for one client over WebSocket")
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address for --tcp/--ws (default {DEFAULT_HOST}: this machine only)",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port for --tcp/--ws (default {DEFAULT_PORT})")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="what the server writes to stderr (default warning)",
    )
    parser.add_argument("--version", action="version", version=f"ctask-ls {__version__}")
    return parser


def main(argv: t.Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print("ctask-ls: error: --port must be between 0 and 65535", file=sys.stderr)
        return 2
    if args.ws and importlib.util.find_spec("websockets") is None:
        print("ctask-ls: error: --ws needs the websockets package; run `pip install 'pygls[ws]'`", file=sys.stderr)
        return 2
    logging.basicConfig(
        stream=sys.stderr, level=getattr(logging, args.log_level.upper()), format="ctask-ls %(levelname)s %(message)s"
    )
    from .app import create_server
    from .server import hard_exit

    server = create_server()
    try:
        if args.tcp:
            server.start_tcp(args.host, args.port)
        elif args.ws:
            server.start_ws(args.host, args.port)
        else:
            server.start_io()
    finally:
        # The client went away without `exit` (or the transport closed): hand sessions on.
        server.close("client disconnected")
    hard_exit(0)


if __name__ == "__main__":
    sys.exit(main())
