"""The LSP lifecycle and JSON-RPC hygiene (SPEC 4), driven by a raw JSON-RPC client over stdio.

Third-party clients (Emacs eglot, sansio-lsp-client) rely on these: -32002
before ``initialize`` with nothing executed, one ``initialize``, -32600 after
``shutdown``, exactly one response per request (-32700 for what is not JSON,
-32600 for what is not a request), a size limit, only the capabilities served,
and a ``$/cancelRequest`` whose answer says what happened.  pytest-lsp cannot
send malformed messages, so :class:`RawClient` writes the bytes itself and reads
the server's stdout on a thread of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import typing as t
from pathlib import Path

import pytest

import ctask_ls
from ctask_ls.server import framing, messages
from ctask_ls.server import protocol as p
from tests.helpers import Env, retry_until
from tests.server.conftest import new_args

TIMEOUT = 60.0
"""Seconds to wait for any one message: only a guard against a hang, never a measure."""

Message = dict[str, t.Any]


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class RawClient:
    """One ``python -m ctask_ls`` process and the bytes to and from it."""

    def __init__(self, env: Env, log: Path, *, answer_requests: bool = True) -> None:
        self.env = env
        self.log_path = log
        self.answer_requests = answer_requests
        """Answer the server's own requests with ``null`` at once (else keep them in :attr:`asked`)."""
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ctask_ls", "--log-level", "info"],
            env=env.vars,
            cwd=env.root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
        )
        self.received: list[Message] = []
        """Every message taken from the server so far, in order."""
        self.asked: list[Message] = []
        """The server's requests not answered yet (``answer_requests=False``)."""
        self._inbox: queue.Queue[Message | None] = queue.Queue()
        self._eof = False
        self._next_id = 0
        self._reader = threading.Thread(target=self._read, name="raw-client-reader", daemon=True)
        self._reader.start()

    # -- the wire -------------------------------------------------------------------------------

    def _read(self) -> None:
        """The reader thread: framed messages from the server's stdout, then None at EOF."""
        out = self.proc.stdout
        assert out is not None
        try:
            while True:
                length = None
                while True:
                    line = out.readline()
                    if not line:
                        return
                    if not line.strip():
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                assert length is not None, "a message from the server without Content-Length"
                body = out.read(length)
                if len(body) < length:
                    return
                self._inbox.put(json.loads(body))
        finally:
            self._inbox.put(None)

    def write(self, data: bytes) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(data)
        stdin.flush()

    def send(self, message: Message) -> None:
        self.write(frame(json.dumps(message).encode()))

    def request(self, method: str, params: t.Any = None, *, msg_id: int | str | None = None) -> int | str:
        if msg_id is None:
            self._next_id += 1
            msg_id = f"r{self._next_id}"  # never one of the ids the tests write by hand
        message: Message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return msg_id

    def command(self, name: str, *arguments: t.Any) -> int | str:
        return self.request("workspace/executeCommand", {"command": name, "arguments": list(arguments)})

    def notify(self, method: str, params: t.Any = None) -> None:
        message: Message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    # -- reading --------------------------------------------------------------------------------

    def next(self) -> Message:
        """The next message from the server (its own requests answered as configured)."""
        if self._eof:
            raise AssertionError(f"the server closed its output; stderr:\n{self.stderr()}")
        try:
            message = self._inbox.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no message from the server within {TIMEOUT}s; stderr:\n{self.stderr()}") from None
        if message is None:
            self._eof = True
            raise AssertionError(f"the server closed its output; stderr:\n{self.stderr()}")
        self.received.append(message)
        if "method" in message and "id" in message:
            if self.answer_requests:
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            else:
                self.asked.append(message)
        return message

    def next_response(self) -> Message:
        """The next response (notifications and the server's requests are passed over)."""
        while True:
            message = self.next()
            if "method" not in message:
                return message

    def response(self, msg_id: int | str) -> Message:
        """The response to request ``msg_id`` (possibly received already)."""
        for message in self.received:
            if "method" not in message and message.get("id") == msg_id:
                return message
        while True:
            message = self.next_response()
            if message.get("id") == msg_id:
                return message

    def result(self, msg_id: int | str) -> t.Any:
        response = self.response(msg_id)
        assert "error" not in response, response
        return response["result"]

    def error(self, msg_id: int | str) -> Message:
        response = self.response(msg_id)
        assert "error" in response, response
        return check_error(response["error"])

    def wait_for_request(self, method: str, count: int) -> list[Message]:
        """Wait until the server has asked ``method`` ``count`` times (``answer_requests=False``)."""
        while len([m for m in self.asked if m["method"] == method]) < count:
            self.next()
        return [m for m in self.asked if m["method"] == method]

    # -- lifecycle ------------------------------------------------------------------------------

    def initialize(self, options: t.Any = None, capabilities: Message | None = None) -> Message:
        """``initialize`` then ``initialized``; the server's capabilities."""
        params = {
            "processId": os.getpid(),
            "rootUri": self.env.root.as_uri(),
            "capabilities": capabilities or {},
            "initializationOptions": options,
        }
        result = self.result(self.request("initialize", params))
        self.notify("initialized", {})
        return t.cast(Message, result["capabilities"])

    def wait_exit(self) -> int:
        """The exit status, once the process has ended by itself; every message it sent is read."""
        try:
            code = self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the server did not exit within {TIMEOUT}s; stderr:\n{self.stderr()}") from None
        self._reader.join(TIMEOUT)
        while True:
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                break
            if message is not None:
                self.received.append(message)
        self._eof = True
        return code

    def answers(self) -> dict[t.Any, int]:
        """How many responses each id got (``None``: responses with ``id: null``)."""
        counts: dict[t.Any, int] = {}
        for message in self.received:
            if "method" not in message:
                counts[message.get("id")] = counts.get(message.get("id"), 0) + 1
        return counts

    def shown(self) -> list[str]:
        return [m["params"]["message"] for m in self.received if m.get("method") == "window/showMessage"]

    def stderr(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-4000:]
        return ""

    def vm(self, field: str) -> int:
        """A ``/proc/PID/status`` memory field of the server, in KiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.proc.pid}/status")

    def close(self) -> None:
        """Never raises: kill the server's process group and release the pipes and the thread."""
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.close()
        self._reader.join(10)
        self._log.close()


def check_error(error: Message) -> Message:
    """Every error: a code, a one-line message, and ``data.kind``."""
    assert isinstance(error.get("code"), int), error
    message = error.get("message")
    assert isinstance(message, str) and message and "\n" not in message, error
    assert isinstance(error.get("data"), dict) and isinstance(error["data"].get("kind"), str), error
    return error


Start = t.Callable[..., RawClient]


@pytest.fixture
def raw(env: Env, tmp_path: Path) -> t.Iterator[Start]:
    """``raw()`` starts a server (not initialized); every one is killed at teardown, even on failure."""
    started: list[RawClient] = []

    def start(**kwargs: t.Any) -> RawClient:
        client = RawClient(env, tmp_path / f"server-{len(started)}.log", **kwargs)
        started.append(client)
        return client

    try:
        yield start
    finally:
        for client in started:
            client.close()


def shut_down(c: RawClient) -> None:
    """``shutdown`` and ``exit`` as an editor sends them: the server exits 0 and never answered twice."""
    assert c.result(c.request("shutdown")) is None
    c.notify("exit")
    assert c.wait_exit() == 0
    twice = {msg_id: n for msg_id, n in c.answers().items() if msg_id is not None and n != 1}
    assert not twice, f"requests answered more than once: {twice}"


# -- before initialize ---------------------------------------------------------------------------


def test_a_request_before_initialize_gets_32002_and_is_not_executed(raw: Start, env: Env, agent_py: str) -> None:
    c = raw()
    new = c.command(p.NEW, new_args("early", agent_py, "write=out.txt:x", "wait=go"))
    error = c.error(new)
    assert (error["code"], error["data"]["kind"]) == (p.SERVER_NOT_INITIALIZED, "ServerNotInitialized")
    for method in ("shutdown", "textDocument/hover", "ctask/whatever"):
        error = c.error(c.request(method))
        assert (error["code"], error["data"]["kind"]) == (-32002, "ServerNotInitialized"), method

    assert not env.task_dir("early").exists()
    assert env.task_names() == []
    assert env.tmux_sessions() == []

    # initialize still works afterwards, and nothing was queued to run then either
    c.initialize()
    assert c.result(c.command(p.LIST, {})) == []
    assert env.tmux_sessions() == []
    shut_down(c)


def test_notifications_before_initialize_are_dropped(raw: Start, env: Env, agent: list[str], tmp_path: Path) -> None:
    # An orphan: a live session nobody owns.  `initialized` starts polling, which adopts orphans.
    env.new_detached("orphan", agent, "wait=go")
    assert env.lease("orphan") is None
    c = raw()
    c.notify("initialized", {})
    c.notify("workspace/didChangeConfiguration", {"settings": {"ctask": {"home": str(tmp_path / "elsewhere")}}})
    c.notify("$/cancelRequest", {"id": 1})
    # The next answer proves the three were read; none was acted on.
    error = c.error(c.command(p.LIST, {}))
    assert error["code"] == p.SERVER_NOT_INITIALIZED
    result = c.result(c.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}}))
    assert "executeCommandProvider" in result["capabilities"]
    status = c.result(c.command(p.STATUS, {"name": "orphan"}))
    assert status["lease"]["state"] == "missing", status  # not polled, so not adopted
    assert env.lease("orphan") is None
    assert [task["name"] for task in c.result(c.command(p.LIST, {}))] == ["orphan"]  # the home did not move
    assert "dropped initialized: the server is uninitialized" in c.stderr()

    # The real `initialized` starts polling: the orphan is adopted.
    c.notify("initialized", {})
    while not any(
        m.get("method") == p.LEASE_STATE and m["params"]["name"] == "orphan" and m["params"]["owned_here"]
        for m in c.received
    ):
        c.next()
    shut_down(c)


@pytest.mark.parametrize("initialized", [False, True])
def test_exit_without_shutdown_exits_1(raw: Start, initialized: bool) -> None:
    c = raw()
    if initialized:
        c.initialize()
    c.notify("exit")
    assert c.wait_exit() == 1


# -- initialize, shutdown ----------------------------------------------------------------------------


def test_a_second_initialize_is_refused_and_changes_nothing(raw: Start, env: Env, tmp_path: Path) -> None:
    env.bare_task("mine")
    c = raw()
    c.initialize()
    other = tmp_path / "other-home"
    params = {"processId": None, "rootUri": None, "capabilities": {}, "initializationOptions": {"home": str(other)}}
    error = c.error(c.request("initialize", params))
    assert (error["code"], error["data"]["kind"]) == (p.INVALID_REQUEST, "AlreadyInitialized")
    assert [task["name"] for task in c.result(c.command(p.LIST, {}))] == ["mine"]
    assert not other.exists()
    shut_down(c)


def test_after_shutdown_every_request_gets_32600_and_exit_is_0(raw: Start, env: Env, agent_py: str) -> None:
    c = raw()
    c.initialize()
    shutdown = c.request("shutdown")
    assert c.result(shutdown) is None
    ids = [
        c.command(p.LIST, {}),
        c.command(p.NEW, new_args("late", agent_py, "wait=go")),
        c.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}}),
        c.request("shutdown"),
        c.request(
            "textDocument/hover", {"textDocument": {"uri": "file:///x"}, "position": {"line": 0, "character": 0}}
        ),
        c.request("ctask/unknown"),
    ]
    for msg_id in ids:
        error = c.error(msg_id)
        assert (error["code"], error["data"]["kind"]) == (p.INVALID_REQUEST, "ServerShutDown"), error
    c.notify("initialized", {})  # dropped, not answered
    c.notify("exit")
    assert c.wait_exit() == 0
    assert c.answers() == {"r1": 1, shutdown: 1, **dict.fromkeys(ids, 1)}
    assert not env.task_dir("late").exists()


def test_shutdown_and_exit_sent_together_exit_0(raw: Start) -> None:
    """A client that sends exit without waiting for shutdown's answer still gets status 0."""
    c = raw()
    c.initialize()
    c.write(
        frame(b'{"jsonrpc": "2.0", "id": "bye", "method": "shutdown"}') + frame(b'{"jsonrpc": "2.0", "method": "exit"}')
    )
    assert c.wait_exit() == 0


# -- one answer per request, whatever arrives -------------------------------------------------------

EXECUTE = "workspace/executeCommand"


def body(message: object) -> bytes:
    return json.dumps(message).encode()


MALFORMED: list[tuple[bytes, t.Any, int, str]] = [
    # (body, id of the answer, code, data.kind)
    (b'{"jsonrpc": "2.0", "id": 1, "method": ', None, -32700, "ParseError"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "\xff\xfe"}', None, -32700, "ParseError"),
    (b"", None, -32700, "ParseError"),
    (b"[]", None, -32600, "InvalidRequest"),
    (body([{"jsonrpc": "2.0", "id": 2, "method": "shutdown"}]), None, -32600, "InvalidRequest"),
    (body("shutdown"), None, -32600, "InvalidRequest"),
    (body(None), None, -32600, "InvalidRequest"),
    (body({"jsonrpc": "2.0", "id": 3}), 3, -32600, "InvalidRequest"),
    (body({"jsonrpc": "2.0", "id": 4, "params": {}}), 4, -32600, "InvalidRequest"),
    (body({"jsonrpc": "1.0", "id": 5, "method": "shutdown"}), 5, -32600, "InvalidRequest"),
    (body({"id": 6, "method": "shutdown"}), 6, -32600, "InvalidRequest"),
    (body({"jsonrpc": "2.0", "id": 7, "method": 42}), 7, -32600, "InvalidRequest"),
    (body({"jsonrpc": "2.0", "id": 8, "method": ""}), 8, -32600, "InvalidRequest"),
    (body({"jsonrpc": "2.0", "id": 9, "method": EXECUTE, "params": "ctask.list"}), 9, -32600, "InvalidRequest"),
    (body({"jsonrpc": "2.0", "id": 10, "method": EXECUTE, "params": 10}), 10, -32600, "InvalidRequest"),
    (body({"jsonrpc": "2.0", "id": {"n": 11}, "method": "shutdown"}), None, -32600, "InvalidRequest"),
    (body({"jsonrpc": "2.0", "id": [12], "method": "shutdown"}), None, -32600, "InvalidRequest"),
    (body({"jsonrpc": "2.0", "id": True, "method": "shutdown"}), None, -32600, "InvalidRequest"),
    (body({"jsonrpc": "2.0", "id": 13.5, "method": "shutdown"}), None, -32600, "InvalidRequest"),
    (body({"jsonrpc": "2.0", "id": None, "method": "shutdown"}), None, -32600, "InvalidRequest"),
    (
        body({"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration", "params": 14}),
        None,
        -32600,
        "InvalidRequest",
    ),
    (body({"jsonrpc": "2.0", "id": 15, "method": EXECUTE, "params": {"arguments": []}}), 15, -32602, "InvalidParams"),
    (body({"jsonrpc": "2.0", "id": 151, "method": EXECUTE, "params": {"command": None}}), 151, -32602, "InvalidParams"),
    (
        body({"jsonrpc": "2.0", "id": 16, "method": EXECUTE, "params": {"command": "ctask.nope", "arguments": [{}]}}),
        16,
        -32602,
        "UnknownCommand",
    ),
    (
        body({"jsonrpc": "2.0", "id": 17, "method": EXECUTE, "params": {"command": p.LIST, "arguments": [{"no": 1}]}}),
        17,
        -32602,
        "InvalidArgument",
    ),
    (
        body({"jsonrpc": "2.0", "id": "18", "method": "textDocument/hover", "params": {}}),
        "18",
        -32601,
        "MethodNotFound",
    ),
    (body({"jsonrpc": "2.0", "id": 19, "method": "initialize", "params": {}}), 19, -32600, "AlreadyInitialized"),
]


def test_every_malformed_message_gets_exactly_one_error_and_the_server_serves_on(raw: Start, env: Env) -> None:
    c = raw()
    # Not JSON before initialize: the answer is still -32700 (there is no request to refuse).
    c.write(frame(b"not json"))
    error = c.next_response()
    assert error["id"] is None and check_error(error["error"])["code"] == p.PARSE_ERROR
    c.initialize()
    for data, msg_id, code, kind in MALFORMED:
        c.write(frame(data))
        response = c.next_response()
        assert response.get("jsonrpc") == "2.0" and "id" in response, (data, response)
        error = check_error(response.get("error") or {})
        assert (response["id"], error["code"], error["data"]["kind"]) == (msg_id, code, kind), (data, response)
    unknown = next(m for m in c.received if m.get("id") == 16)["error"]
    assert unknown["data"]["command"] == "ctask.nope" and p.LIST in unknown["message"]

    # Nothing above was executed (the shutdowns in a batch or with a bad id included): the server serves on.
    assert c.result(c.command(p.LIST, {})) == []
    assert c.shown() == [], c.shown()
    assert "Traceback" not in c.stderr()
    shut_down(c)
    nulls = sum(1 for _body, msg_id, _code, _kind in MALFORMED if msg_id is None) + 1
    assert c.answers()[None] == nulls


def test_a_broken_header_is_answered_then_the_connection_closes(raw: Start) -> None:
    for header in (b'{"jsonrpc": "2.0", "id": 1, "method": "initialize"}\r\n', b"Content-Type: x\r\n\r\n"):
        c = raw()
        c.write(header)
        response = c.next_response()
        assert response["id"] is None, response
        error = check_error(response["error"])
        assert (error["code"], error["data"]["kind"]) == (p.INVALID_REQUEST, "InvalidHeader"), error
        assert c.wait_exit() == 0  # as when the client goes away


def test_headers_in_any_case_and_content_type_are_accepted(raw: Start) -> None:
    c = raw()
    data = body({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
    c.write(
        b"\r\ncontent-length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" % len(data) + data
    )
    assert "executeCommandProvider" in c.result(1)["capabilities"]
    shut_down(c)


# -- size and depth ------------------------------------------------------------------------------------


def test_a_message_over_the_limit_is_refused_before_its_body_is_read(raw: Start) -> None:
    c = raw()
    c.write(b"Content-Length: 1500000000\r\n\r\n")  # and no body at all: the answer cannot wait for it
    response = c.next_response()
    assert response["id"] is None, response
    error = check_error(response["error"])
    assert (error["code"], error["data"]["kind"]) == (p.INVALID_REQUEST, "MessageTooLarge"), error
    assert error["data"]["content_length"] == 1_500_000_000
    assert error["data"]["limit"] == framing.MAX_MESSAGE_BYTES == 16 * 1024 * 1024


def test_the_body_of_a_message_over_the_limit_is_dropped_unbuffered_and_the_stream_stays_in_step(
    raw: Start,
) -> None:
    c = raw()
    c.initialize()
    before = c.vm("VmHWM")
    size = framing.MAX_MESSAGE_BYTES + 1
    c.write(b"Content-Length: %d\r\n\r\n" % size)
    error = check_error(c.next_response()["error"])
    assert error["data"]["kind"] == "MessageTooLarge"
    chunk = b" " * (1024 * 1024)
    for _ in range(size // len(chunk)):
        c.write(chunk)
    c.write(b" " * (size % len(chunk)))
    # The next message is read as one: the body above was skipped exactly.
    assert c.result(c.command(p.LIST, {})) == []
    grown_kib = c.vm("VmHWM") - before
    assert grown_kib < framing.MAX_MESSAGE_BYTES // 2 // 1024, f"peak memory grew by {grown_kib} KiB"
    # A message of exactly the limit is read (and, being blanks, is not JSON).
    c.write(frame(b" " * framing.MAX_MESSAGE_BYTES))
    assert check_error(c.next_response()["error"])["code"] == p.PARSE_ERROR
    shut_down(c)


def test_deeply_nested_json_gets_an_error_not_a_crash(raw: Start) -> None:
    c = raw()
    c.initialize()
    for data in (b"[" * 100_000, b'{"a": ' * 100_000, b"[" * 100_000 + b"]" * 100_000):
        c.write(frame(data))
        response = c.next_response()
        assert response["id"] is None, response
        error = check_error(response["error"])
        assert (error["code"], error["data"]["kind"]) == (p.INVALID_REQUEST, "InvalidRequest"), error
    nested = "[" * (messages.MAX_NESTING + 1) + "]" * (messages.MAX_NESTING + 1)
    params = f'{{"command": "ctask.list", "arguments": {nested}}}'
    c.write(frame(b'{"jsonrpc": "2.0", "id": 7, "method": "workspace/executeCommand", "params": %s}' % params.encode()))
    error = c.error(7)
    assert (error["code"], error["data"]["kind"]) == (p.INVALID_REQUEST, "InvalidRequest"), error
    assert str(messages.MAX_NESTING) in error["message"]
    assert c.result(c.command(p.LIST, {})) == []
    assert c.shown() == []
    shut_down(c)


# -- capabilities ----------------------------------------------------------------------------------------

EDITOR_CAPABILITIES: Message = {
    "textDocument": {"synchronization": {"didSave": True, "willSave": True, "willSaveWaitUntil": True}},
    "workspace": {"workspaceFolders": True, "configuration": True, "didChangeConfiguration": {}},
    "notebookDocument": {"synchronization": {}},
    "general": {"positionEncodings": ["utf-8", "utf-16"]},
    "window": {"workDoneProgress": True},
}


def test_only_execute_command_is_advertised(raw: Start) -> None:
    """``executeCommandProvider`` and ``experimental.ctask`` (the protocol a client checks), nothing else."""
    c = raw()
    capabilities = c.initialize(capabilities=EDITOR_CAPABILITIES)
    ours = capabilities.get("experimental", {}).get("ctask", {})
    assert capabilities == {
        "executeCommandProvider": {"commands": list(p.COMMANDS)},
        "experimental": {"ctask": {"protocol": p.PROTOCOL_VERSION, "version": ctask_ls.__version__, **ours}},
    }
    assert ours["host"] == os.uname().nodename and ours["pid"] > 0
    # An editor that sends documents anyway is ignored, silently.
    c.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": "file:///tmp/x.py", "languageId": "python", "version": 1, "text": "x = 1\n"}},
    )
    c.notify("workspace/didChangeWorkspaceFolders", {"event": {"added": [], "removed": []}})
    assert c.result(c.command(p.LIST, {})) == []
    assert c.shown() == []
    shut_down(c)


# -- $/cancelRequest -------------------------------------------------------------------------------------


def test_cancelling_a_stop_that_started_answers_its_result_and_the_stop_is_done(
    raw: Start, env: Env, agent_py: str
) -> None:
    c = raw()
    c.initialize()
    c.result(c.command(p.NEW, new_args("t", agent_py, "wait=go")))
    assert env.tmux_alive("t")
    stop = c.command(p.STOP, {"name": "t"})
    c.notify("$/cancelRequest", {"id": stop})
    response = c.response(stop)
    if "error" in response:  # the cancel came before the stop started: then nothing was done ...
        assert env.tmux_alive("t") and env.lease("t") is not None, f"answered {response} yet stopped"
        # ... ever: so a second stop is the one that stops the session.
        assert c.result(c.command(p.STOP, {"name": "t"}))["stopped"] is True, f"answered {response} yet stopped"
        error = check_error(response["error"])
        assert (error["code"], error["data"]["kind"]) == (p.REQUEST_CANCELLED, "RequestCancelled"), error
    else:  # the stop had started: it completed, and the answer is its result
        assert response["result"]["stopped"] is True, response
        assert not env.tmux_alive("t")
        retry_until(lambda: (env.summary("t") or {}).get("end_reason") == "stopped")
    shut_down(c)


def test_cancelling_a_command_that_has_not_started_means_nothing_is_done(
    raw: Start, env: Env, agent: list[str], agent_py: str
) -> None:
    env.write_config({"stale_after": 3600})  # the other host's lease below stays fresh however slow this is
    env.new_detached("remote", agent, "wait=go")
    env.write_lease("remote", host="other-host", pid=4242)
    c = raw(answer_requests=False)
    c.initialize()
    c.result(c.command(p.NEW, new_args("t", agent_py, "wait=go")))

    # Every request worker waits for the user's answer to "adopt the other host's session?" ...
    attaches = [c.command(p.ATTACH, {"name": "remote"}) for _ in range(8)]
    questions = c.wait_for_request("window/showMessageRequest", 8)
    # ... so this stop is queued, and cancelled before it starts.
    stop = c.command(p.STOP, {"name": "t"})
    c.notify("$/cancelRequest", {"id": stop})
    response = c.response(stop)

    for question in questions:
        c.send({"jsonrpc": "2.0", "id": question["id"], "result": None})  # dismissed: declined
    for msg_id in attaches:
        assert c.error(msg_id)["data"]["kind"] == "AdoptionDeclined"
    c.result(c.command(p.LIST, {}))  # queued after the stop: had the stop not been cancelled, it would have run
    assert env.tmux_alive("t"), f"answered {response} yet stopped"
    assert env.summary("t") is None
    # Cancelling what is already answered, or was never sent, changes nothing either.
    c.notify("$/cancelRequest", {"id": stop})
    c.notify("$/cancelRequest", {"id": "never-sent"})
    # The session is still there to stop: the cancelled stop did nothing, ever.
    assert c.result(c.command(p.STOP, {"name": "t"}))["stopped"] is True, f"answered {response} yet stopped"
    assert not env.tmux_alive("t")
    error = check_error(response.get("error") or {})
    assert (error["code"], error["data"]["kind"]) == (p.REQUEST_CANCELLED, "RequestCancelled"), error
    assert "nothing was done" in error["message"]
    shut_down(c)
