"""How the server is started: stdio by default, ``--stdio`` accepted, TCP/WebSocket on loopback."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import subprocess
import sys
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
    proc = subprocess.Popen(
        [sys.executable, "-m", "ctask_ls", transport, "--port", str(port)],
        env=env.vars,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    env.procs.append(proc)
    return proc


def test_loopback_is_the_default_host_and_stdio_the_default_transport() -> None:
    parser = build_parser()
    for argv in ([], ["--stdio"]):
        args = parser.parse_args(argv)
        assert not args.tcp and not args.ws
    assert parser.parse_args(["--tcp"]).host == "127.0.0.1"
    assert parser.parse_args(["--ws"]).host == "127.0.0.1"
    assert parser.parse_args(["--tcp", "--host", "0.0.0.0", "--port", "9000"]).host == "0.0.0.0"
    with pytest.raises(SystemExit):
        parser.parse_args(["--tcp", "--ws"])


async def test_stdio_without_flags_and_the_console_script_both_serve(lsp: Start) -> None:
    for command in ([sys.executable, "-m", "ctask_ls"], [str(BIN / "ctask-ls")]):
        s = await lsp(command=command)
        assert await s.command(p.LIST, {}) == []
        await s.shutdown()


async def test_tcp_listens_on_loopback_only_unless_a_host_is_given(env: Env) -> None:
    port = free_port()
    proc = await asyncio.to_thread(start_listening, env, "--tcp", port)
    await asyncio.to_thread(retry_until, lambda: listening(port), 10)
    assert listening(port) == ["127.0.0.1"]

    client = make_test_lsp_client()
    await client.start_tcp("127.0.0.1", port)
    await client.initialize_session(types.InitializeParams(capabilities=client_capabilities("neovim")))
    params = types.ExecuteCommandParams(command=p.LIST, arguments=[{}])
    assert await client.workspace_execute_command_async(params) == []
    await client.shutdown_session()
    assert await asyncio.to_thread(proc.wait, 10) == 0
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


@pytest.mark.skipif(not HAS_WEBSOCKETS, reason="needs the websockets package (pip install 'pygls[ws]')")
async def test_ws_listens_on_loopback_and_serves(env: Env) -> None:
    port = free_port()
    proc = await asyncio.to_thread(start_listening, env, "--ws", port)
    await asyncio.to_thread(retry_until, lambda: listening(port), 10)
    assert listening(port) == ["127.0.0.1"]
    client = make_test_lsp_client()
    await client.start_ws("127.0.0.1", port)
    await client.initialize_session(types.InitializeParams(capabilities=client_capabilities("visual-studio-code")))
    params = types.ExecuteCommandParams(command=p.LIST, arguments=[{}])
    assert await client.workspace_execute_command_async(params) == []
    await client.shutdown_session()
    assert await asyncio.to_thread(proc.wait, 10) == 0
    await stop_client(client)
