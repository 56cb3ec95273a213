"""Neovim connects to a running ``ctask-ls --tcp`` with the token read from its file (SPEC 4, issue 14)."""

from __future__ import annotations

import typing as t

from tests.security.wire import Server

if t.TYPE_CHECKING:
    from tests.helpers import Env
    from tests.nvim.conftest import Nvim


def test_nvim_reaches_a_tcp_server_with_its_token_file(nvim: Nvim, env: Env) -> None:
    server = Server(env, "--tcp")
    token = server.token
    assert server.token_file is not None and token is not None
    run = nvim.run("tcp.lua", {"port": server.port, "token_file": str(server.token_file)})
    assert run.returncode == 0, run.explain()
    assert run.result["err"] is None, run.explain()
    assert run.result["result"] == []
    assert token not in run.stdout + run.stderr


def test_nvim_without_the_token_file_is_refused(nvim: Nvim, env: Env) -> None:
    server = Server(env, "--tcp")
    run = nvim.run("tcp.lua", {"port": server.port})
    assert run.returncode == 0, run.explain()
    assert run.result["err"] is not None and run.result["result"] is None, run.explain()
    assert "unauthorized (no token)" in server.stderr()
