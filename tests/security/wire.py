"""Raw clients of ``ctask-ls``'s listening transports, for the security tests.

Everything here talks bytes on loopback: framed JSON-RPC over a TCP or Unix
socket (:class:`StreamClient`), a WebSocket opening handshake written by hand
(:func:`ws_handshake`), and a WebSocket client (:class:`WsClient`).  Every wait
is bounded by :data:`WAIT` seconds, a guard against a hang and never a
measure: a test asserts what arrived (or that the connection ended), not when.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

from tests.helpers import Env, retry_until

WAIT = 20.0
"""Seconds any one read may wait (a guard, not a measure)."""

Message = dict[str, t.Any]


def has_websockets() -> bool:
    return importlib.util.find_spec("websockets") is not None


def frame(message: Message) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    """Something listens on 127.0.0.1:``port`` (or on every IPv4 address), from /proc/net/tcp."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        addr_hex, port_hex = fields[1].split(":")
        if fields[3] == "0A" and int(port_hex, 16) == port and addr_hex in ("0100007F", "00000000"):
            return True
    return False


class Server:
    """One ``ctask-ls --tcp|--ws`` process on a loopback port (killed by ``Env.cleanup``)."""

    def __init__(self, env: Env, transport: str, *args: str, extra_env: dict[str, str] | None = None) -> None:
        self.env = env
        self.port = free_port()
        self.proc = env.background(
            [sys.executable, "-m", "ctask_ls", transport, "--port", str(self.port), "--log-level", "info", *args],
            env=extra_env,
        )
        retry_until(lambda: listening(self.port) or self.proc.poll() is not None, WAIT)
        assert self.proc.poll() is None, f"ctask-ls exited: {self.stderr()}"
        line = announcement(env, self.proc)
        match = re.search(r"; token file (\S+)$", line or "")
        self.token_file = Path(match.group(1)) if match else None

    @property
    def token(self) -> str | None:
        return self.token_file.read_text().strip() if self.token_file is not None else None

    def stderr(self) -> str:
        return self.env.stderr_so_far(self.proc)


def announcement(env: Env, proc: subprocess.Popen[str]) -> str | None:
    """The whole ``ctask-ls: listening on ...`` line a server prints once bound (None if it printed none).

    It comes right after the bind; a server that announces nothing (an older
    one) makes the wait run out: a bound, not a measure.
    """
    pattern = re.compile(r"^ctask-ls: listening on .*$", re.MULTILINE)
    text = env.stderr_so_far(proc, until="ctask-ls: listening on", seconds=WAIT)
    for _ in range(200):  # the rest of the line, if the pipe handed over only part of it
        match = pattern.search(text)
        if match is None:
            return None
        if text.find("\n", match.start()) >= 0:
            return match.group(0)
        text = env.stderr_so_far(proc, seconds=0.05)
    return None


class StreamClient:
    """Framed JSON-RPC over a TCP or Unix stream socket, written and read by hand."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(WAIT)
        self._buffer = b""
        self._next_id = 0
        self.received: list[Message] = []

    @classmethod
    def tcp(cls, port: int) -> StreamClient:
        return cls(socket.create_connection(("127.0.0.1", port), timeout=WAIT))

    @classmethod
    def unix(cls, path: Path) -> StreamClient:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(WAIT)
        sock.connect(str(path))
        return cls(sock)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def write(self, data: bytes) -> bool:
        """Send bytes; False when the server has closed the connection."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def send(self, message: Message) -> bool:
        return self.write(frame(message))

    def request(self, method: str, params: t.Any = None) -> str:
        self._next_id += 1
        msg_id = f"q{self._next_id}"
        message: Message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return msg_id

    def _fill(self) -> bool:
        try:
            chunk = self.sock.recv(65536)
        except (TimeoutError, OSError):
            return False
        self._buffer += chunk
        return bool(chunk)

    def recv(self) -> Message | None:
        """The next message; None when the connection ended (or nothing came within :data:`WAIT`)."""
        while b"\r\n\r\n" not in self._buffer:
            if not self._fill():
                return None
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        length = next(
            int(v)
            for k, _, v in (line.partition(b":") for line in head.split(b"\r\n"))
            if k.lower() == b"content-length"
        )
        while len(rest) < length:
            self._buffer = head + b"\r\n\r\n" + rest
            if not self._fill():
                return None
            head, _, rest = self._buffer.partition(b"\r\n\r\n")
        self._buffer = rest[length:]
        message = t.cast(Message, json.loads(rest[:length]))
        self.received.append(message)
        return message

    def until(self, pred: t.Callable[[Message], bool], *, answer: bool = True) -> Message:
        """Read until a message satisfies ``pred`` (the server's requests are answered with null)."""
        while True:
            message = self.recv()
            assert message is not None, f"the connection ended before the message expected; got {self.received}"
            if answer and "method" in message and "id" in message:
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            if pred(message):
                return message

    def answer_to(self, msg_id: str) -> Message:
        return self.until(lambda m: m.get("id") == msg_id and "method" not in m)

    def rest(self) -> list[Message]:
        """Every message until the server closes the connection (bounded by :data:`WAIT` per read)."""
        out = []
        while (message := self.recv()) is not None:
            out.append(message)
        return out

    def closed_by_server(self) -> bool:
        """The server closed its end: a read returns end-of-file (not a timeout)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except TimeoutError:
            return False
        except OSError:
            return True


def initialize(token: str | None = None, **options: t.Any) -> dict[str, t.Any]:
    """``initialize`` params (the token in ``initializationOptions.token`` when given)."""
    init = dict(options)
    if token is not None:
        init["token"] = token
    return {"processId": None, "rootUri": None, "capabilities": {}, "initializationOptions": init}


def session(client: StreamClient, token: str | None) -> None:
    """initialize (with ``token``) and initialized, asserting the server accepted."""
    answer = client.answer_to(client.request("initialize", initialize(token)))
    assert "result" in answer, answer
    client.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})


def run_anything(marker: Path, name: str = "pwned") -> dict[str, t.Any]:
    """``ctask.new`` params whose agent would create ``marker``: what an intruder sends."""
    return {
        "command": "ctask.new",
        "arguments": [{"name": name, "agent": "/bin/sh", "args": ["-c", f"touch {marker}"]}],
    }


def nothing_ran(env: Env, marker: Path, name: str = "pwned") -> None:
    """No task was created and the intruder's agent never ran."""
    assert not env.task_dir(name).exists(), f"task {name} exists: a command ran"
    assert env.tmux_sessions() == [], f"tmux sessions exist: {env.tmux_sessions()}"
    assert not marker.exists(), "the intruder's agent ran"
    listed = env.json("list")
    assert listed == [], f"tasks exist: {listed}"


# -- WebSocket ---------------------------------------------------------------------------------------


def ws_handshake(port: int, headers: dict[str, str], path: str = "/") -> tuple[int, str]:
    """Send an opening handshake written by hand; (HTTP status, the response as text)."""
    lines = [f"GET {path} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = "\r\n".join([*lines, "", ""]).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        if not head.startswith("HTTP/1.1 101"):
            with contextlib.suppress(OSError):  # the body of a refusal, up to the server's close
                while chunk := sock.recv(65536):
                    data += chunk
    status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
    match = re.match(r"HTTP/1\.1 (\d{3})", status_line)
    assert match, f"not an HTTP response: {data[:200]!r}"
    return int(match.group(1)), data.decode("utf-8", "replace")


def ws_headers(port: int, **extra: str) -> dict[str, str]:
    """A valid opening handshake for 127.0.0.1:PORT; ``extra`` adds or replaces headers (``_`` for ``-``)."""
    headers = {
        "Host": f"127.0.0.1:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    for key, value in extra.items():
        headers[key.replace("_", "-")] = value
    return headers


class WsClient:
    """A WebSocket client (websockets' sync client): one JSON-RPC body per message."""

    def __init__(self, port: int, token: str | None) -> None:
        from websockets.sync.client import connect

        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(
            connect(f"ws://127.0.0.1:{port}/", additional_headers=headers, open_timeout=WAIT)
        )
        self._next_id = 0
        self.received: list[Message] = []

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stack.close()

    def send(self, message: Message) -> bool:
        from websockets.exceptions import ConnectionClosed

        try:
            self.ws.send(json.dumps(message))
        except ConnectionClosed:
            return False
        return True

    def request(self, method: str, params: t.Any = None) -> str:
        self._next_id += 1
        msg_id = f"w{self._next_id}"
        message: Message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return msg_id

    def recv(self) -> Message | None:
        from websockets.exceptions import ConnectionClosed

        try:
            message = t.cast(Message, json.loads(self.ws.recv(timeout=WAIT)))
        except (ConnectionClosed, TimeoutError):
            return None
        self.received.append(message)
        return message

    def until(self, pred: t.Callable[[Message], bool]) -> Message:
        while True:
            message = self.recv()
            assert message is not None, f"the connection ended before the message expected; got {self.received}"
            if "method" in message and "id" in message:
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            if pred(message):
                return message

    def answer_to(self, msg_id: str) -> Message:
        return self.until(lambda m: m.get("id") == msg_id and "method" not in m)


def wait_gone(proc: subprocess.Popen[str], seconds: float = WAIT) -> int | None:
    """The exit status once ``proc`` has exited (None if it is still running after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc.poll()
