"""How ``ctask-ls`` is reached: stdio, a token-guarded TCP or WebSocket port, a private Unix socket.

:class:`Serving` is the transport half of the server (the base of
:class:`.server.CtaskServer`): pygls' own transports buffer any
``Content-Length`` and let anyone in, so every message goes through
:mod:`.framing`'s reader, and every listening transport through the checks of
:mod:`.transport` (token, Origin and Host, the peer's uid, one client at a time).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import sys
import threading
import typing as t

from pygls.io_ import StdoutWriter, WebSocketWriter
from pygls.lsp.server import LanguageServer

from . import framing, rpc, transport, unix_socket, ws_handshake
from .access import TOKEN_ENV, Access, TransportError, hostport

if t.TYPE_CHECKING:
    import socket
    from pathlib import Path

    from websockets.asyncio.server import ServerConnection
    from websockets.http11 import Request, Response

logger = logging.getLogger("ctask_ls.server")


def announce(text: str) -> None:
    """One line on stderr, whatever the log level: where the server listens (tests and users read it)."""
    print(f"ctask-ls: {text}", file=sys.stderr, flush=True)


class Serving(LanguageServer):
    """The transports of the server; the server proper supplies its closing and signal handling."""

    protocol: rpc.CtaskProtocol
    cleanups: list[t.Callable[[], None]]
    """Run once the server is closed: remove the token file and the socket the transport made."""

    def install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        """Release sessions on SIGTERM/SIGINT/SIGHUP (the server proper says how)."""
        raise NotImplementedError

    def start_io(self, stdin: t.BinaryIO | None = None, stdout: t.BinaryIO | None = None) -> None:
        """Serve one client over stdin/stdout until it goes away."""
        self._stop_event = stop = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        reading = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ctask-stdin")
        reader = framing.BlockingReader(stdin or sys.stdin.buffer, reading)
        try:
            asyncio.run(framing.serve(reader, self.protocol, stop))
        except BrokenPipeError:
            logger.warning("the connection to the client is lost")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            reading.shutdown(wait=False, cancel_futures=True)
            self._stop_serving()

    def serve_tcp(self, host: str, port: int, access: Access) -> None:
        """Listen on ``host:port``; serve the first client that presents the token (see :mod:`.transport`)."""

        async def listen() -> None:
            server = await asyncio.start_server(
                self._stream_connection(access), host, port, limit=2 * framing.MAX_HEADER_LINE
            )
            self._publish(server, access, f"{hostport(host, server.sockets[0].getsockname()[1])} (tcp)")
            await self._serve(server)

        self._run(listen())

    def serve_socket(self, sock: socket.socket, where: Path) -> None:
        """Serve the first client of this user on a Unix socket (:func:`.unix_socket.bind_unix_socket`)."""
        inode = os.lstat(where).st_ino
        self.cleanups.append(functools.partial(unix_socket.remove_socket, where, inode))

        async def listen() -> None:
            server = await asyncio.start_unix_server(
                self._stream_connection(None), sock=sock, limit=2 * framing.MAX_HEADER_LINE
            )
            announce(f"listening on {where} (unix socket)")
            await self._serve(server)

        self._run(listen())

    def start_tcp(self, host: str, port: int) -> t.NoReturn:
        """pygls' TCP server lets anyone in: never used (:meth:`serve_tcp` requires a token)."""
        raise TypeError("ctask-ls serves TCP only with a token: use serve_tcp(host, port, access)")

    def start_ws(self, host: str, port: int) -> t.NoReturn:
        """pygls' WebSocket server lets anyone in: never used (:meth:`serve_ws` checks the handshake)."""
        raise TypeError("ctask-ls serves WebSocket only with a token: use serve_ws(host, port, access)")

    def _stream_connection(
        self, access: Access | None
    ) -> t.Callable[[asyncio.StreamReader, asyncio.StreamWriter], t.Awaitable[None]]:
        """The handler of one TCP (``access``: its token) or Unix socket (None: the peer's uid) connection."""
        self._stop_event = stop = threading.Event()
        slot = transport.Slot()

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if access is None and (uid := unix_socket.peer_uid(writer.get_extra_info("socket"))) != os.getuid():
                message = f"ctask-ls: unauthorized: uid {uid} is not the server's"
                await transport.refuse_stream(writer, None, transport.UNAUTHORIZED, message)
                return
            if slot.pending >= transport.MAX_PENDING:
                message = "ctask-ls: too many connections are opening; try again"
                await transport.refuse_stream(writer, None, "TooManyConnections", message)
                return
            slot.pending += 1
            try:
                first = await transport.first_message(reader, writer, access)
            finally:
                slot.pending -= 1
            if first is None:
                return
            if not slot.take():
                await transport.refuse_stream(writer, first.msg_id, transport.ANOTHER_CLIENT, transport.BUSY_TEXT)
                return
            # This connection is the client now: its messages, and only its, reach the protocol.
            self.protocol.set_writer(writer)  # its write and close are synchronous
            try:
                self.protocol.handle_body(first.body)
                await framing.serve(framing.StreamReader(reader), self.protocol, stop)
            except ConnectionError:
                logger.warning("the connection to the client is lost")
            finally:
                self._stop_serving()

        return connection

    def serve_ws(self, host: str, port: int, access: Access, origins: frozenset[str] = frozenset()) -> None:
        """Listen for WebSocket connections on ``host:port``; each message is one JSON-RPC body.

        The opening handshake is checked before the upgrade (:class:`.ws_handshake.WsPolicy`:
        Host, Origin, token, one client).  A message over :data:`.framing.MAX_MESSAGE_BYTES`
        closes the connection (websockets refuses it from its frame header, code 1009).
        """
        from websockets.asyncio.server import serve
        from websockets.exceptions import ConnectionClosed

        self._stop_event = stop = threading.Event()
        slot = transport.Slot()
        policy = ws_handshake.WsPolicy(access, origins, host)

        def process_request(connection: ServerConnection, request: Request) -> Response | None:
            refusal = policy.refusal(request.headers, busy=slot.held)
            if refusal is None:
                return None
            status, text = refusal
            logger.warning(
                "refused a WebSocket handshake from %s: %s", connection.remote_address, text.removeprefix("ctask-ls: ")
            )
            response = connection.respond(status, text + "\n")
            if status == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            return response

        async def connection(websocket: ServerConnection) -> None:
            if not slot.take():  # it raced another client through the handshake
                await websocket.close(1013, transport.BUSY_TEXT)
                return
            self.protocol.set_writer(WebSocketWriter(websocket), include_headers=False)
            try:
                while not stop.is_set():
                    self.protocol.handle_body(await websocket.recv(decode=False))
            except ConnectionClosed:
                logger.info("the WebSocket connection is closed")
            finally:
                self._stop_serving()

        async def listen() -> None:
            server = await serve(
                connection, host, port, max_size=framing.MAX_MESSAGE_BYTES, process_request=process_request
            )
            policy.port = server.sockets[0].getsockname()[1]
            self._publish(server, access, f"{hostport(host, policy.port)} (websocket)")
            await self._serve(server)

        self._run(listen())

    def _publish(self, server: t.Any, access: Access, where: str) -> None:
        """Write the token file of a bound server (removed at close) and say where it listens."""
        port = server.sockets[0].getsockname()[1]
        try:
            written = access.publish(os.environ, port)
        except TransportError:
            server.close()
            raise
        self.cleanups.append(access.unpublish)
        token = f"token file {written}" if written else f"token from ${TOKEN_ENV}"
        announce(f"listening on {where}; {token}")

    async def _serve(self, server: t.Any) -> None:
        """Serve until the client has gone."""
        self._server = server
        async with server:
            await server.serve_forever()

    def _run(self, listen: t.Coroutine[t.Any, t.Any, None]) -> None:
        """Run a listener; a failure to listen is a one-line TransportError.

        SIGTERM, SIGINT and SIGHUP release sessions and remove the token file and
        the socket from the start, not only once a client has initialized.
        """

        async def main() -> None:
            self.install_signal_handlers(asyncio.get_running_loop())
            await listen

        try:
            asyncio.run(main())
        except asyncio.CancelledError:
            pass
        except OSError as exc:
            raise TransportError(f"cannot listen: {exc.strerror or exc}") from None

    def _stop_serving(self) -> None:
        """pygls' ``shutdown`` without waiting for its thread pool (ctask-ls runs nothing on it)."""
        if self._stop_event is not None:
            self._stop_event.set()
        if self._thread_pool is not None:
            self._thread_pool.shutdown(wait=False)
        if self._server is not None:
            self._server.close()
