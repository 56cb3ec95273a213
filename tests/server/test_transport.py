"""How the server is started: stdio by default, ``--stdio`` accepted, TCP/WebSocket on loopback with a token.

What the listening transports refuse (no token, a foreign Origin or Host, a
second client, ...) is proved in ``tests/security/test_transports.py``; here
the clients that do everything right are served.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import socket
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import client_capabilities, make_test_lsp_client

from ctask_ls.server import protocol as p
from ctask_ls.server.__main__ import build_parser
from tests.helpers import BIN, Env, retry_until
from tests.server.conftest import Start, stop_client

HAS_WEBSOCKETS = importlib.util.find_spec("websockets") is not None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> list[str]:
    """IPv4 addresses with a socket in LISTEN state on ``port`` (from /proc/net/tcp)."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        addr_hex, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            found.append(socket.inet_ntoa(bytes.fromhex(addr_hex)[::-1]))
    return found


def start_listening(env: Env, transport: str, port: int) -> subprocess.Popen[str]:
    """``ctask-ls --tcp|--ws --port PORT`` in the background (killed by Env.cleanup)."""
    return env.background([sys.executable, "-m", "ctask_ls", transport, "--port", str(port)])


def announced_token(env: Env, proc: subprocess.Popen[str]) -> tuple[str, Path]:
    """The token of a listening server and its file, from the line the server prints on stderr."""
    text = env.stderr_so_far(proc, until=".token\n", seconds=30)
    match = re.search(r"; token file (\S+\.token)\n", text)
    assert match, f"no token file announced: {text}"
    path = Path(match.group(1))
    return path.read_text().strip(), path


def test_loopback_is_the_default_host_and_stdio_the_default_transport() -> None:
    parser = build_parser()
    for argv in ([], ["--stdio"]):
        args = parser.parse_args(argv)
        assert not args.tcp and not args.ws
    assert parser.parse_args(["--tcp"]).host == "127.0.0.1"
    assert parser.parse_args(["--ws"]).host == "127.0.0.1"
    assert parser.parse_args(["--tcp", "--host", "0.0.0.0", "--port", "9000"]).host == "0.0.0.0"
    for pair in (["--tcp", "--ws"], ["--socket", "/tmp/x", "--tcp"], ["--stdio", "--socket", "/tmp/x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(pair)


async def test_stdio_without_flags_and_the_console_script_both_serve(lsp: Start) -> None:
    for command in ([sys.executable, "-m", "ctask_ls"], [str(BIN / "ctask-ls")]):
        s = await lsp(command=command)
        assert await s.command(p.LIST, {}) == []
        await s.shutdown()


async def test_tcp_listens_on_loopback_only_and_serves_the_client_with_the_token(env: Env) -> None:
    port = free_port()
    proc = await asyncio.to_thread(start_listening, env, "--tcp", port)
    await asyncio.to_thread(retry_until, lambda: listening(port), 10)
    assert listening(port) == ["127.0.0.1"]
    token, token_file = await asyncio.to_thread(announced_token, env, proc)
    assert token_file == env.ctask_home / "run" / f"ls-{port}.token"  # no $XDG_RUNTIME_DIR in the tests

    client = make_test_lsp_client()
    await client.start_tcp("127.0.0.1", port)
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim"),
            initialization_options={"token": token, "ctask": {"autoAdopt": True}},
        )
    )
    params = types.ExecuteCommandParams(command=p.LIST, arguments=[{}])
    assert await client.workspace_execute_command_async(params) == []
    # The token is not a setting: nothing is reported about it.
    assert not [m for m in client.messages if "token" in m.message]
    await client.shutdown_session()
    assert await asyncio.to_thread(proc.wait, 10) == 0
    assert not token_file.exists(), "the token file goes with the server"
    await stop_client(client)


WITHOUT_WEBSOCKETS = (
    "import runpy, sys; sys.modules['websockets'] = None; sys.argv = ['ctask-ls', '--ws']; "
    "runpy.run_module('ctask_ls', run_name='__main__', alter_sys=True)"
)
"""``python -m ctask_ls --ws`` as it runs where websockets is not installed (importlib finds no spec)."""


def test_ws_without_websockets_says_what_to_install(env: Env) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_WEBSOCKETS],
        env=env.vars,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "ctask-ls: error: --ws needs the websockets package; run `pip install 'pygls[ws]'`"
    ]


async def start_ws_with_token(client: t.Any, port: int, token: str) -> None:
    """pygls' ``start_ws``, with the token in the handshake's Authorization header."""
    from pygls.client import logger as client_logger
    from pygls.io_ import run_websocket
    from websockets.asyncio.client import connect

    websocket = await connect(f"ws://127.0.0.1:{port}", additional_headers={"Authorization": f"Bearer {token}"})
    connection = asyncio.create_task(
        run_websocket(
            stop_event=client._stop_event,
            websocket=websocket,
            protocol=client.protocol,
            logger=client_logger,
            error_handler=client.report_server_error,
        )
    )
    client._async_tasks.append(connection)
    await asyncio.sleep(0)


@pytest.mark.skipif(not HAS_WEBSOCKETS, reason="needs the websockets package (pip install 'pygls[ws]')")
async def test_ws_listens_on_loopback_and_serves_the_client_with_the_token(env: Env) -> None:
    port = free_port()
    proc = await asyncio.to_thread(start_listening, env, "--ws", port)
    await asyncio.to_thread(retry_until, lambda: listening(port), 10)
    assert listening(port) == ["127.0.0.1"]
    token, token_file = await asyncio.to_thread(announced_token, env, proc)
    client = make_test_lsp_client()
    await start_ws_with_token(client, port, token)
    await client.initialize_session(types.InitializeParams(capabilities=client_capabilities("visual-studio-code")))
    params = types.ExecuteCommandParams(command=p.LIST, arguments=[{}])
    assert await client.workspace_execute_command_async(params) == []
    await client.shutdown_session()
    assert await asyncio.to_thread(proc.wait, 10) == 0
    assert not token_file.exists()
    await stop_client(client)


def test_flags_that_do_not_fit_are_refused_in_one_line(env: Env, tmp_path: Path) -> None:
    """Transport options given where they mean nothing, or unusable, stop the server before it starts."""
    cases = [
        (["--token-file", str(tmp_path / "t")], "--token-file is for --tcp and --ws"),
        (["--tcp", "--allow-origin", "https://a.example"], "--allow-origin is for --ws"),
        (["--ws", "--allow-origin", "evil"], "is not an origin like"),
        (["--tcp"], "shorter than 16 characters"),
        (["--tcp", "--token-file", "/tmp/ctask-ls-test.token"], "group or others can write to it"),
    ]
    for argv, expected in cases:
        run_env = {**env.vars, "CTASK_LS_TOKEN": "short"} if "shorter" in expected else env.vars
        proc = subprocess.run(
            [sys.executable, "-m", "ctask_ls", *argv, "--port", "0"],
            env=run_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, (argv, proc.stderr)
        assert lines[0].startswith("ctask-ls: error: ") and expected in lines[0], (argv, lines)


def test_a_given_token_file_is_written_0600_and_removed(env: Env, tmp_path: Path) -> None:
    where = tmp_path / "tokens" / "mine.token"  # the directory is created 0700
    port = free_port()
    proc = env.background(
        [sys.executable, "-m", "ctask_ls", "--tcp", "--port", str(port), "--token-file", str(where)],
        env={"CTASK_LS_TOKEN": "a-token-the-user-chose-0123456789"},
    )
    token, path = announced_token(env, proc)
    assert path == where and token == "a-token-the-user-chose-0123456789"
    assert where.stat().st_mode & 0o777 == 0o600 and where.parent.stat().st_mode & 0o777 == 0o700
    proc.terminate()
    assert proc.wait(30) == 0
    assert not where.exists()
