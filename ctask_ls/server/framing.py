"""Content-Length framing of ``ctask-ls``'s stream transports (stdio, TCP, the Unix socket).

WebSocket frames carry one body each and need none of this.  A message is
header lines (``Name: value``, at most :data:`MAX_HEADER_LINE` bytes,
``Content-Length`` required, other headers ignored, names in any case), a
blank line, then exactly ``Content-Length`` bytes.  A body longer than
:data:`MAX_MESSAGE_BYTES` is refused as soon as its header is read (-32600,
``id: null``, ``data.kind: "MessageTooLarge"``) and then read and dropped
piece by piece (:data:`SKIP_CHUNK`): it is never held in memory and the
stream stays in step.  A header that cannot be read (no ``Content-Length``, a
line that is not ``Name: value``, an overlong line) leaves no way to find the
next message: the server answers -32600 (``InvalidHeader``) and closes the
connection.

:func:`serve` hands each body to the protocol (:meth:`.rpc.CtaskProtocol.handle_body`),
which checks it and applies the LSP lifecycle.
"""

from __future__ import annotations

import asyncio
import functools
import re
import typing as t

if t.TYPE_CHECKING:
    import concurrent.futures
    import threading

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The largest ``Content-Length`` (and WebSocket message) accepted: 16 MiB."""
MAX_HEADER_LINE = 8 * 1024
"""The longest header line, in bytes (with its line ending)."""
MAX_HEADER_LINES = 32
"""The most header lines one message may have."""
SKIP_CHUNK = 1024 * 1024
"""Bytes read at a time while dropping the body of a message that is too large."""

_HEADER = re.compile(rb"([A-Za-z0-9-]+):[ \t]*(.*?)[ \t]*")


class Receiver(t.Protocol):
    """What the framing hands messages to (:class:`.rpc.CtaskProtocol`)."""

    def handle_body(self, body: bytes) -> None:
        """One message's body; never raises."""

    def refuse(self, msg_id: None, kind: str, message: str, **data: t.Any) -> None:
        """Answer with a JSON-RPC error (``id: null``) and ``data.kind``."""


class Reader(t.Protocol):
    async def readline(self, limit: int) -> bytes:
        """One line with its ending; fewer than ``limit`` bytes without one at EOF; ``limit`` bytes if longer."""

    async def read(self, n: int) -> bytes:
        """Between 1 and ``n`` bytes; empty at EOF."""


class BlockingReader:
    """A blocking binary stream (stdin) read on a thread of its own."""

    def __init__(self, stream: t.BinaryIO, executor: concurrent.futures.Executor) -> None:
        self.stream = stream
        self.executor = executor

    async def readline(self, limit: int) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.stream.readline, limit)

    async def read(self, n: int) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.stream.read, n)


class StreamReader:
    """An asyncio stream (TCP)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    async def readline(self, limit: int) -> bytes:
        try:
            return await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            return exc.partial
        except asyncio.LimitOverrunError:
            return await self.reader.read(limit)

    async def read(self, n: int) -> bytes:
        return await self.reader.read(n)


class _Closed(Exception):
    """The stream ended, or cannot be followed any more."""


async def serve(reader: Reader, proto: Receiver, stop: threading.Event | None = None) -> None:
    """Read and handle messages until the stream ends or its framing is lost."""
    while stop is None or not stop.is_set():
        try:
            length = await read_header(reader, functools.partial(_lost, proto))
            if length is None:
                return  # the stream ended
            if length > MAX_MESSAGE_BYTES:
                proto.refuse(
                    None,
                    "MessageTooLarge",
                    f"a message of {length} bytes is over the limit of {MAX_MESSAGE_BYTES} bytes; "
                    "its body is discarded, never buffered",
                    content_length=length,
                    limit=MAX_MESSAGE_BYTES,
                )
                await _skip(reader, length)
                continue
            body = await _read_exactly(reader, length)
        except _Closed:
            return
        proto.handle_body(body)


async def read_header(reader: Reader, lost: t.Callable[[str], t.NoReturn]) -> int | None:
    """The ``Content-Length`` of the next message (blank lines before a header are skipped).

    None when the stream ends; a header that cannot be read calls ``lost`` with why.
    """
    length: int | None = None
    lines = 0
    while True:
        line = await reader.readline(MAX_HEADER_LINE)
        if len(line) > MAX_HEADER_LINE or (len(line) == MAX_HEADER_LINE and not line.endswith(b"\n")):
            lost(f"a header line is longer than {MAX_HEADER_LINE} bytes")
        if not line.endswith(b"\n"):
            return None
        text = line.rstrip(b"\r\n")
        if not text:
            if lines == 0:
                continue
            if length is None:
                lost("the header has no Content-Length")
            return length
        lines += 1
        match = _HEADER.fullmatch(text)
        if match is None:
            shown = text[:40].decode("utf-8", "replace")
            lost(f"expected a header line like 'Content-Length: 42', got {shown!r}")
        if lines > MAX_HEADER_LINES:
            lost(f"the header has more than {MAX_HEADER_LINES} lines")
        name, value = match.group(1).lower(), match.group(2)
        if name == b"content-length":
            if not value.isdigit() or length is not None:
                lost(f"the Content-Length header must be given once, as a number of bytes, not {value[:20]!r}")
            length = int(value)


def _lost(proto: Receiver, problem: str) -> t.NoReturn:
    """The framing is lost: say why, then close the connection."""
    proto.refuse(None, "InvalidHeader", f"{problem}; the server cannot find the next message and closes the connection")
    raise _Closed


async def _read_exactly(reader: Reader, n: int) -> bytes:
    chunks: list[bytes] = []
    left = n
    while left:
        chunk = await reader.read(left)
        if not chunk:
            raise _Closed
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


async def _skip(reader: Reader, n: int) -> None:
    left = n
    while left:
        chunk = await reader.read(min(left, SKIP_CHUNK))
        if not chunk:
            raise _Closed
        left -= len(chunk)
