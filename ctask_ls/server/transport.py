"""Who may connect to ``ctask-ls`` (SPEC sections 4 and 9): the first message of a stream, one client at a time.

stdio (the default) serves the process that started the server.  Every
listening transport serves **one client at a time**, and only the user:

``--socket PATH`` (:mod:`.unix_socket`)
    A private Unix socket, mode 0600; the peer's uid must be the user's.  Any
    first message will do.

``--tcp`` / ``--ws``
    A secret token is required (:mod:`.access`: where it comes from, where
    it is written, which hosts may be bound).

    TCP (:func:`first_message`): the first message must be the
    ``initialize`` request with ``initializationOptions.token`` (what every
    LSP client can send: VS Code's ``initializationOptions``, Neovim's
    ``init_options``, eglot's ``:initializationOptions``).  It is compared
    with :func:`hmac.compare_digest` and removed before the settings are
    read.  Anything else first (another message, a wrong or missing token, an
    HTTP request, nothing within :data:`AUTH_TIMEOUT` seconds, more than
    :data:`AUTH_MAX_BYTES`) is answered with one -32600 ``Unauthorized``
    error and the connection is closed: nothing is executed.

    WebSocket: Host, Origin and the token are checked in the opening
    handshake, before the upgrade (:mod:`.ws_handshake`).

One client at a time (:class:`Slot`)
    The first client that gets in (TCP: with the token; socket: with its
    first message, so a liveness probe that connects and closes never holds
    the server; WebSocket: at its upgrade) holds the server until it goes
    away (then the server releases its sessions and exits, as on stdio).  Another client
    that gets in meanwhile is refused with a one-line message (TCP and socket:
    a -32600 ``AnotherClientConnected`` error; WebSocket: HTTP 409 before the
    upgrade, or close code 1013 if it raced past) and never sees the first
    one's messages.  Connections that have not got in yet do not hold the
    server (over TCP and the socket at most :data:`MAX_PENDING` of them, each
    for at most :data:`AUTH_TIMEOUT` seconds; websockets times handshakes out
    after 10 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import typing as t

from . import framing, messages, protocol

if t.TYPE_CHECKING:
    from .access import Access

logger = logging.getLogger("ctask_ls.server.transport")

TOKEN_OPTION = messages.TOKEN_OPTION
AUTH_TIMEOUT = 10.0
"""Seconds a new connection has to present the token."""
AUTH_MAX_BYTES = 1024 * 1024
"""The largest first message read before the client is authenticated."""
MAX_PENDING = 8
"""Connections allowed to be authenticating at the same time; more are closed at once."""
UNAUTHORIZED = "Unauthorized"  # declared in ctask_ls.protocol.errors.RPC_ERRORS, like the two below
ANOTHER_CLIENT = "AnotherClientConnected"
BUSY_TEXT = "ctask-ls: another client is connected; one client at a time is served"
"""What a refused second client is told."""


def shown(value: str, limit: int = 60) -> str:
    """A header value as a one-line message shows it."""
    text = "".join(c if c.isprintable() else "?" for c in value)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# -- one client at a time -------------------------------------------------------------------------


class Slot:
    """The one client the server serves (event loop only)."""

    def __init__(self) -> None:
        self.held = False
        self.pending = 0
        """Connections authenticating now."""

    def take(self) -> bool:
        """Take the server for a client that got in; False when another client holds it."""
        if self.held:
            return False
        self.held = True
        return True


# -- TCP and Unix sockets: the first message --------------------------------------------------------


def error_message(msg_id: object, kind: str, message: str) -> bytes:
    """A framed JSON-RPC error (``id`` null unless ``msg_id`` is a valid id)."""
    error = {"code": protocol.INVALID_REQUEST, "message": message, "data": {"kind": kind}}
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id if messages.valid_id(msg_id) else None, "error": error}).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def refuse_stream(writer: asyncio.StreamWriter, msg_id: object, kind: str, message: str) -> None:
    """Tell the client why in one JSON-RPC error, then close the connection (never raises)."""
    peer = writer.get_extra_info("peername") or "a client"
    logger.warning("refused a connection from %s: %s", peer, message.removeprefix("ctask-ls: "))
    with contextlib.suppress(Exception):
        writer.write(error_message(msg_id, kind, message))
        async with asyncio.timeout(2):
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


class _Refused(Exception):
    def __init__(self, msg_id: object, problem: str) -> None:
        super().__init__(problem)
        self.msg_id = msg_id
        self.problem = problem


@dataclasses.dataclass
class First:
    """A connection's first message, read before the connection may hold the server."""

    body: bytes
    """What the protocol gets (over TCP: without the token)."""
    msg_id: object
    """Its id, to answer a refusal with."""


async def first_message(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, access: Access | None
) -> First | None:
    """The first message of a TCP (``access``) or Unix socket (None) connection; None: refused or gone, closed.

    Over TCP it must be an ``initialize`` request with the token, which is taken
    out.  On the Unix socket (where the peer is already known to be the user)
    any message will do: a connection that closes without sending one (a
    liveness probe) never holds the server.
    """
    msg_id: object = None
    try:
        async with asyncio.timeout(AUTH_TIMEOUT):
            body = await _read_first(reader)
        if access is None:
            return First(body, _id_of(body))
        data = _check_first(_parse(body), access)
        return First(json.dumps(data).encode(), data.get("id"))
    except _Refused as refused:
        msg_id, problem = refused.msg_id, refused.problem
    except TimeoutError:
        problem = f"no message within {AUTH_TIMEOUT:g} s"
    except (ConnectionError, asyncio.IncompleteReadError):
        with contextlib.suppress(Exception):
            writer.close()
        return None
    if access is None:
        await refuse_stream(writer, msg_id, "InvalidHeader", f"ctask-ls: {problem}; the connection is closed")
    else:
        await refuse_stream(writer, msg_id, UNAUTHORIZED, _unauthorized(problem))
    return None


def _unauthorized(what: str) -> str:
    return (
        f"ctask-ls: unauthorized ({what}); the first message must be 'initialize' with the server's token "
        f"in initializationOptions.{TOKEN_OPTION}; nothing was done"
    )


async def _read_first(reader: asyncio.StreamReader) -> bytes:
    def lost(problem: str) -> t.NoReturn:
        raise _Refused(None, problem)

    length = await framing.read_header(framing.StreamReader(reader), lost)
    if length is None:
        raise ConnectionError("the client went away")
    if length > AUTH_MAX_BYTES:
        lost(f"a first message of {length} bytes is over {AUTH_MAX_BYTES} bytes")
    return await reader.readexactly(length)


def _parse(body: bytes) -> object:
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        raise _Refused(None, "the first message is not JSON") from None


def _id_of(body: bytes) -> object:
    with contextlib.suppress(ValueError, RecursionError, AttributeError):
        return json.loads(body.decode("utf-8")).get("id")
    return None


def _check_first(data: object, access: Access) -> dict[str, t.Any]:
    if not isinstance(data, dict):
        raise _Refused(None, "the first message is not a JSON object")
    msg_id = data.get("id")
    method = data.get("method")
    if method != "initialize" or "id" not in data:
        raise _Refused(msg_id, f"the first message is {shown(method) if isinstance(method, str) else 'not a request'}")
    presented = messages.drop_token(data)
    if presented is None:
        raise _Refused(msg_id, "no token")
    if not access.matches(presented):
        raise _Refused(msg_id, "wrong token")
    return data
