"""Issue 14, "Network transports let anyone in": only the user gets in (SPEC 4 and 9).

Each test drives a real ``ctask-ls`` on loopback with bytes written by hand
(:mod:`tests.security.wire`) and proves one refusal: nothing is executed, no
task appears, the intruder's agent never runs.  Servers are killed by
``Env.cleanup`` even when a test fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Env, retry_until
from tests.security import wire
from tests.security.wire import Server, StreamClient, WsClient

pytestmark = pytest.mark.timeout(180)

HAS_WEBSOCKETS = wire.has_websockets()
needs_websockets = pytest.mark.skipif(not HAS_WEBSOCKETS, reason="needs the websockets package (pygls[ws])")

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
"""Run a command as another user (the tests run as root in CI containers)."""


def other_user_available() -> bool:
    return os.getuid() == 0 and shutil.which("setpriv") is not None


def as_other_user(env: Env, code: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` as uid 65534 (nobody)."""
    return subprocess.run(
        [*NOBODY, sys.executable, "-c", code],
        env={"PATH": env.vars["PATH"], "LANG": "C.UTF-8"},
        cwd="/",
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def refused(messages: list[wire.Message], kind: str) -> bool:
    """Every message is an error of ``kind`` (and there is at least one)."""
    return bool(messages) and all(m.get("error", {}).get("data", {}).get("kind") == kind for m in messages)


# -- TCP -------------------------------------------------------------------------------------------


def test_tcp_without_token_executes_nothing(env: Env) -> None:
    server = Server(env, "--tcp")
    marker = env.root / "marker"
    attempts: list[list[wire.Message]] = [
        # the finding: initialize without a token, then run anything
        [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": wire.initialize()},
            {"jsonrpc": "2.0", "method": "initialized", "params": {}},
            {"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand", "params": wire.run_anything(marker)},
        ],
        # a guessed token
        [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": wire.initialize("x" * 43)},
            {"jsonrpc": "2.0", "method": "initialized", "params": {}},
            {"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand", "params": wire.run_anything(marker)},
        ],
        # the token somewhere else than the first message
        [
            {"jsonrpc": "2.0", "id": 1, "method": "workspace/executeCommand", "params": wire.run_anything(marker)},
            {"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": wire.initialize(server.token)},
        ],
    ]
    body = b"".join(wire.frame(m) for m in attempts[0])
    # what a browser's fetch() or a form POST puts on the wire
    http = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nOrigin: https://evil.example\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    for data in [b"".join(wire.frame(m) for m in messages) for messages in attempts] + [http]:
        intruder = StreamClient.tcp(server.port)
        intruder.write(data)
        answers = intruder.rest()
        assert refused(answers, "Unauthorized") and len(answers) == 1, answers
        assert intruder.closed_by_server()
        intruder.close()
    wire.nothing_ran(env, marker)

    # The intruders did not hold the server: the user's client gets in and is served.
    assert server.proc.poll() is None
    user = StreamClient.tcp(server.port)
    wire.session(user, server.token)
    assert user.answer_to(user.request("workspace/executeCommand", {"command": "ctask.list", "arguments": [{}]})) == {
        "jsonrpc": "2.0",
        "id": "q2",
        "result": [],
    }
    user.close()


# -- WebSocket ---------------------------------------------------------------------------------------


@needs_websockets
def test_ws_without_token_is_refused_before_upgrade(env: Env) -> None:
    server = Server(env, "--ws")
    for extra in ({}, {"Authorization": "Bearer " + "x" * 43}, {"Authorization": f"Basic {server.token}"}):
        status, response = wire.ws_handshake(server.port, wire.ws_headers(server.port, **extra))
        assert status == 401, response
        assert "Sec-WebSocket-Accept" not in response
    status, response = wire.ws_handshake(
        server.port, wire.ws_headers(server.port, Authorization=f"Bearer {server.token}")
    )
    assert status == 101, response


@needs_websockets
def test_ws_foreign_origin_is_refused_before_upgrade(env: Env) -> None:
    server = Server(env, "--ws")
    marker = env.root / "marker"
    auth = f"Bearer {server.token}" if server.token else "none"
    for origin in ("https://evil.example", "null", f"http://127.0.0.1:{server.port}", "file://"):
        status, response = wire.ws_handshake(
            server.port, wire.ws_headers(server.port, Origin=origin, Authorization=auth)
        )
        assert status == 403, f"{origin}: {response}"
        assert "Sec-WebSocket-Accept" not in response
    wire.nothing_ran(env, marker)

    # --allow-origin lets one origin in, and only that one.
    allowed = Server(env, "--ws", "--allow-origin", "https://Editor.example/")
    auth = f"Bearer {allowed.token}"
    status, response = wire.ws_handshake(
        allowed.port, wire.ws_headers(allowed.port, Origin="https://evil.example", Authorization=auth)
    )
    assert status == 403, response
    status, response = wire.ws_handshake(
        allowed.port, wire.ws_headers(allowed.port, Origin="https://editor.example", Authorization=auth)
    )
    assert status == 101, response


@needs_websockets
def test_ws_foreign_host_dns_rebinding_is_refused(env: Env) -> None:
    server = Server(env, "--ws")
    auth = f"Bearer {server.token}" if server.token else "none"
    for host in (
        f"evil.example:{server.port}",
        "evil.example",
        f"127.0.0.1:{server.port + 1}",
        f"127.0.0.1.nip.io:{server.port}",
    ):
        status, response = wire.ws_handshake(server.port, wire.ws_headers(server.port, Host=host, Authorization=auth))
        assert status == 403, f"{host}: {response}"
        assert "Sec-WebSocket-Accept" not in response
    status, response = wire.ws_handshake(
        server.port, wire.ws_headers(server.port, Host=f"localhost:{server.port}", Authorization=auth)
    )
    assert status == 101, response


# -- one client at a time ----------------------------------------------------------------------------


def _launch_and_watch(client: StreamClient | WsClient, name: str) -> None:
    """The client launches task NAME and gets the answer and the task's ``ctask/leaseState``."""
    params = {"command": "ctask.new", "arguments": [{"name": name, "agent": "/bin/sh", "args": ["-c", "sleep 60"]}]}
    answer = client.answer_to(client.request("workspace/executeCommand", params))
    assert answer.get("result", {}).get("task") == name, answer

    def lease_state(m: wire.Message) -> bool:
        return m.get("method") == "ctask/leaseState" and m["params"].get("name") == name

    if not any(lease_state(m) for m in client.received):
        client.until(lease_state)


@pytest.mark.parametrize("transport", ["--tcp", pytest.param("--ws", marks=needs_websockets)])
def test_second_client_is_refused_and_first_keeps_its_notifications(env: Env, transport: str) -> None:
    server = Server(env, transport)
    first: StreamClient | WsClient
    if transport == "--tcp":
        first = StreamClient.tcp(server.port)
        wire.session(first, server.token)
        second = StreamClient.tcp(server.port)
        second.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": wire.initialize(server.token)})
        answers = second.rest()
        assert refused(answers, "AnotherClientConnected") and len(answers) == 1, answers
        assert "one client at a time" in answers[0]["error"]["message"]
        assert second.closed_by_server()
    else:
        first = WsClient(server.port, server.token)
        answer = first.answer_to(first.request("initialize", wire.initialize()))
        assert "result" in answer, answer
        first.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        auth = f"Bearer {server.token}" if server.token else "none"
        status, response = wire.ws_handshake(server.port, wire.ws_headers(server.port, Authorization=auth))
        assert status == 409, response
        assert "one client at a time" in response
    _launch_and_watch(first, "mine")
    first.close()


# -- addresses ---------------------------------------------------------------------------------------

TEST_NET = "192.0.2.1"
"""A non-loopback address (RFC 5737 TEST-NET-1) that no machine has: nothing can ever listen on it."""


@pytest.mark.parametrize("transport", ["--tcp", pytest.param("--ws", marks=needs_websockets)])
def test_non_loopback_without_token_refused_at_start(env: Env, transport: str) -> None:
    port = wire.free_port()
    argv = [sys.executable, "-m", "ctask_ls", transport, "--host", TEST_NET, "--port", str(port)]
    proc = subprocess.run(argv, env=env.vars, capture_output=True, text=True, timeout=60, check=False, cwd=env.root)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"ctask-ls: error: --host {TEST_NET} is not a loopback address"), lines
    assert "CTASK_LS_TOKEN" in lines[0]

    # With a token given, the address is the only problem left: one line again, never a traceback.
    given = {**env.vars, "CTASK_LS_TOKEN": "a-long-enough-secret-for-tests"}
    proc = subprocess.run(argv, env=given, capture_output=True, text=True, timeout=60, check=False, cwd=env.root)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith("ctask-ls: error: cannot listen"), proc.stderr


# -- Unix socket ---------------------------------------------------------------------------------------


def _start_socket(env: Env, path: Path) -> subprocess.Popen[str]:
    return env.background([sys.executable, "-m", "ctask_ls", "--socket", str(path), "--log-level", "info"])


def _socket_dir(env: Env) -> Path:
    """A short directory for sockets (AF_UNIX paths are limited to 107 bytes); removed with the env."""
    return env.sock_dir / "ls"


def test_socket_is_0600_in_0700_dir(env: Env) -> None:
    path = _socket_dir(env) / "ctask-ls.sock"  # the directory does not exist yet
    proc = _start_socket(env, path)
    text = env.stderr_so_far(proc, until="listening on", seconds=wire.WAIT)
    assert "listening on" in text, text
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    st = path.lstat()
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()

    user = StreamClient.unix(path)
    wire.session(user, None)
    # One client at a time on the socket too.
    second = StreamClient.unix(path)
    second.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": wire.initialize()})
    answers = second.rest()
    assert refused(answers, "AnotherClientConnected") and len(answers) == 1, answers
    _launch_and_watch(user, "mine")

    if other_user_available():
        probe = as_other_user(
            env,
            f"import socket; s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect({str(path)!r})",
        )
        assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe.stderr
    user.send({"jsonrpc": "2.0", "id": "s", "method": "shutdown"})
    user.answer_to("s")
    user.send({"jsonrpc": "2.0", "method": "exit"})
    assert wire.wait_gone(proc) == 0
    assert not path.exists(), "the socket is removed when the server exits"


def test_socket_refuses_open_dirs_symlinks_and_live_sockets(env: Env) -> None:
    base = _socket_dir(env)
    base.mkdir(mode=0o700)

    def start_fails(path: Path, why: str) -> None:
        proc = _start_socket(env, path)
        code = wire.wait_gone(proc)
        err = env.stderr_so_far(proc)
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ctask-ls: error:") and why in lines[0], err

    open_dir = base / "open"
    open_dir.mkdir(mode=0o755)
    open_dir.chmod(0o755)
    start_fails(open_dir / "s.sock", "not private")
    assert not (open_dir / "s.sock").exists()

    if os.getuid() == 0:
        foreign = base / "foreign"
        foreign.mkdir(mode=0o700)
        os.chown(foreign, 65534, 65534)
        start_fails(foreign / "s.sock", "belongs to uid 65534")

    private = base / "priv"
    private.mkdir(mode=0o700)
    target = env.root / "precious"
    target.write_text("keep me")
    link = private / "link.sock"
    link.symlink_to(target)
    start_fails(link, "symlink")
    assert link.is_symlink() and target.read_text() == "keep me"

    regular = private / "file.sock"
    regular.write_text("keep me too")
    start_fails(regular, "not a socket")
    assert regular.read_text() == "keep me too"

    # A socket left by a server that is gone is replaced; one a live server listens on is not.
    stale = private / "stale.sock"
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(str(stale))
    leftover.close()
    proc = _start_socket(env, stale)
    assert "listening on" in env.stderr_so_far(proc, until="listening on", seconds=wire.WAIT)
    start_fails(stale, "another server is listening")
    user = StreamClient.unix(stale)
    wire.session(user, None)
    user.close()


# -- the token ---------------------------------------------------------------------------------------


def test_token_file_is_0600_private_and_the_token_reaches_no_agent(env: Env, agent: list[str]) -> None:
    server = Server(env, "--tcp")
    assert server.token_file is not None, server.stderr()
    st = server.token_file.lstat()
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(server.token_file.parent.stat().st_mode) == 0o700
    token = server.token
    assert token is not None and len(token) >= 32
    if other_user_available():
        probe = as_other_user(env, f"open({str(server.token_file)!r}).read()")
        assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe.stderr

    # A given token (the environment, never argv) reaches no agent and no command line.
    secret = "given-secret-" + "s" * 32
    given = Server(env, "--tcp", extra_env={"CTASK_LS_TOKEN": secret})
    assert given.token_file is None, "a given token is written nowhere unless --token-file says where"
    client = StreamClient.tcp(given.port)
    wire.session(client, secret)
    args = {"name": "dump", "agent": agent[0], "args": [*agent[1:], "dump=env.json", "sleep=30"]}
    answer = client.answer_to(client.request("workspace/executeCommand", {"command": "ctask.new", "arguments": [args]}))
    assert "result" in answer, answer
    dump = retry_until(lambda: next(env.task_dir("dump").rglob("env.json"), None), wire.WAIT)
    dumped = dump.read_text()
    assert secret not in dumped and "CTASK_LS_TOKEN" not in dumped
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert secret.encode() not in cmdline.read_bytes(), cmdline
        except OSError:
            continue
    client.close()

    # The token file goes away with the server.
    assert server.token_file.exists()
    server.proc.terminate()
    wire.wait_gone(server.proc)
    assert not server.token_file.exists()
