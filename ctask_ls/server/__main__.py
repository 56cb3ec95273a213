"""``ctask-ls`` / ``python -m ctask_ls``: start the language server.

stdio by default (``--stdio`` is accepted because VS Code's client adds it);
``--socket PATH`` serves a Unix socket only the user can reach; ``--tcp`` and
``--ws`` listen on 127.0.0.1 unless ``--host`` says otherwise, and require a
token (``$CTASK_LS_TOKEN``, else generated into a 0600 file whose path is
printed on stderr).  Who gets in, and how: :mod:`.transport`.  A setup that
cannot be served (a non-loopback host without a given token, a socket
directory others can enter, ...) is refused at start with one line on stderr
and status 2.  The server's diagnostics go to stderr (``--log-level``); the
editor gets ``window/logMessage``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
import typing as t

from ctask_ls import __version__

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2087
TOKEN_ENV = "CTASK_LS_TOKEN"
"""Gives the token of --tcp/--ws (:data:`.TOKEN_ENV`; not imported here to keep --help quick)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctask-ls",
        description="The ctask language server: ctask.* commands and lease/diff notifications for editors.",
    )
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="talk JSON-RPC over stdin/stdout (the default)")
    transport.add_argument(
        "--socket",
        metavar="PATH",
        help="listen for one client at a time of this user on a Unix socket (mode 0600, in a 0700 directory)",
    )
    transport.add_argument(
        "--tcp", action="store_true", help="listen for one client over TCP; it must send the token in initialize"
    )
    transport.add_argument(
        "--ws",
        action="store_true",
        help="listen for one client over WebSocket; it must send 'Authorization: Bearer TOKEN'",
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address for --tcp/--ws (default {DEFAULT_HOST}: this machine only; "
        f"any other needs the token in ${TOKEN_ENV})",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port for --tcp/--ws (default {DEFAULT_PORT}; 0: any free one)"
    )
    parser.add_argument(
        "--token-file",
        metavar="PATH",
        help=f"where --tcp/--ws write their token (mode 0600; default $XDG_RUNTIME_DIR/ctask/ls-PORT.token, "
        f"else <ctask home>/run/ls-PORT.token); the token itself comes from ${TOKEN_ENV}, else is generated",
    )
    parser.add_argument(
        "--allow-origin",
        metavar="ORIGIN",
        action="append",
        default=[],
        help="for --ws: also accept handshakes with this Origin header (repeatable; by default any Origin is refused)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="what the server writes to stderr (default warning)",
    )
    parser.add_argument("--version", action="version", version=f"ctask-ls {__version__}")
    return parser


def fail(message: str) -> int:
    print(f"ctask-ls: error: {message}", file=sys.stderr)
    return 2


def main(argv: t.Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .access import TOKEN_ENV, Access, TransportError, check_host
    from .unix_socket import bind_unix_socket
    from .ws_handshake import allowed_origins

    listening = args.tcp or args.ws
    if not 0 <= args.port <= 65535:
        return fail("--port must be between 0 and 65535")
    if args.ws and importlib.util.find_spec("websockets") is None:
        return fail("--ws needs the websockets package; run `pip install 'pygls[ws]'`")
    if args.token_file and not listening:
        return fail("--token-file is for --tcp and --ws")
    if args.allow_origin and not args.ws:
        return fail("--allow-origin is for --ws")
    try:
        access = Access.from_env(os.environ, args.token_file) if listening else None
        # Read once and removed: the token never reaches agents (or anything else) through the environment.
        os.environ.pop(TOKEN_ENV, None)
        if listening:
            check_host(args.host, access)
        origins = allowed_origins(args.allow_origin)
        unix = bind_unix_socket(args.socket) if args.socket else None
    except TransportError as exc:
        return fail(str(exc))
    logging.basicConfig(
        stream=sys.stderr, level=getattr(logging, args.log_level.upper()), format="ctask-ls %(levelname)s %(message)s"
    )
    from .app import create_server
    from .server import hard_exit

    server = create_server()
    status = 0
    try:
        if args.tcp:
            assert access is not None
            server.serve_tcp(args.host, args.port, access)
        elif args.ws:
            assert access is not None
            server.serve_ws(args.host, args.port, access, origins)
        elif unix is not None:
            server.serve_socket(*unix)
        else:
            server.start_io()
    except TransportError as exc:
        status = fail(str(exc))
    finally:
        # The client went away without `exit` (or the transport closed): hand sessions on.
        server.close("client disconnected")
    hard_exit(status)


if __name__ == "__main__":
    sys.exit(main())
