"""End-to-end fixtures for ``ctask-ls``: real server processes driven by pytest-lsp.

Each test gets :class:`tests.helpers.Env` isolation (private HOME, XDG dirs,
CTASK_HOME, config and tmux socket, cleaned up even when the test fails) and
starts as many servers as it needs with the ``lsp`` fixture.  A
:class:`Session` records every ``ctask/*`` notification with its arrival time
and waits on conditions (an event set per notification), never on fixed
sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
import time
import typing as t
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from ctask_ls.server import protocol
from tests.helpers import AGENT_SCRIPT, Env

SERVER_COMMAND = [sys.executable, "-m", "ctask_ls", "--stdio"]
CLIENTS = ("neovim", "visual-studio-code")


def plain(obj: t.Any) -> t.Any:
    """pygls hands custom params over as namedtuples: back to dicts and lists."""
    if hasattr(obj, "_asdict"):
        return {k: plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return obj


@dataclasses.dataclass
class Note:
    method: str
    params: dict[str, t.Any]
    at: float
    """time.monotonic() when it arrived."""


@dataclasses.dataclass
class RpcError:
    message: str
    code: int
    data: dict[str, t.Any]

    @property
    def kind(self) -> str:
        return str(self.data.get("kind"))


class Session:
    """One ``ctask-ls`` process and the pytest-lsp client talking to it."""

    def __init__(self, client: LanguageClient, env: Env) -> None:
        self.client = client
        self.env = env
        self.notes: list[Note] = []
        self.asked: list[str] = []
        self.answer: str | None = protocol.ADOPT
        """The title this client picks when the server asks (None: dismiss)."""
        self.initialize_result: types.InitializeResult | None = None
        self._changed = asyncio.Event()
        for method in protocol.NOTIFICATIONS:
            self._record(method)

        def on_ask(_ls: LanguageClient, params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
            self.asked.append(params.message)
            for action in params.actions or []:
                if action.title == self.answer:
                    return action
            return None

        client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)(on_ask)

    def _record(self, method: str) -> None:
        def on_note(_ls: LanguageClient, params: t.Any) -> None:
            self.notes.append(Note(method, plain(params), time.monotonic()))
            self._changed.set()

        self.client.feature(method)(on_note)

    @property
    def pid(self) -> int:
        server = self.client._server
        assert server is not None
        return int(server.pid)

    @property
    def alive(self) -> bool:
        server = self.client._server
        return server is not None and server.returncode is None

    # -- commands ---------------------------------------------------------------------------------

    async def command(self, name: str, *arguments: t.Any) -> t.Any:
        params = types.ExecuteCommandParams(command=name, arguments=list(arguments))
        return plain(await asyncio.wait_for(self.client.workspace_execute_command_async(params), 60))

    async def error(self, name: str, *arguments: t.Any) -> RpcError:
        """Run a command that must fail; its JSON-RPC error."""
        try:
            result = await self.command(name, *arguments)
        except JsonRpcException as exc:
            return RpcError(exc.message, exc.code, plain(exc.data) or {})
        raise AssertionError(f"{name} {arguments!r} succeeded: {result!r}")

    # -- notifications ------------------------------------------------------------------------------

    def of(self, method: str, name: str | None = None, since: int = 0) -> list[dict[str, t.Any]]:
        return [
            n.params
            for n in self.notes[since:]
            if n.method == method and (name is None or n.params.get("name") == name)
        ]

    def mark(self) -> int:
        """An index into the notifications: ``wait_for(..., since=mark)`` only sees later ones."""
        return len(self.notes)

    async def wait_for(
        self,
        method: str,
        pred: t.Callable[[dict[str, t.Any]], bool] = lambda _p: True,
        *,
        name: str | None = None,
        since: int = 0,
        timeout: float = 10.0,
    ) -> Note:
        """The first notification (from index ``since``) that matches; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        checked = since
        while True:
            for note in self.notes[checked:]:
                if note.method == method and (name is None or note.params.get("name") == name) and pred(note.params):
                    return note
            checked = max(checked, len(self.notes))
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [n.params for n in self.notes[since:] if n.method == method]
                raise AssertionError(f"no {method} for {name} matched within {timeout}s; got {seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def lease(
        self, name: str, pred: t.Callable[[dict[str, t.Any]], bool], *, since: int = 0, timeout: float = 10.0
    ) -> Note:
        return await self.wait_for(protocol.LEASE_STATE, pred, name=name, since=since, timeout=timeout)

    def logs(self) -> list[str]:
        return [m.message for m in self.client.log_messages]

    def shown(self) -> list[str]:
        return [m.message for m in self.client.messages]

    # -- ending -------------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """shutdown + exit, as an editor does; the process must end by itself."""
        await asyncio.wait_for(self.client.shutdown_session(), 30)
        server = self.client._server
        assert server is not None
        await asyncio.wait_for(server.wait(), 10)
        await self.close()

    def kill(self) -> None:
        """SIGKILL the server process (a crash)."""
        os.kill(self.pid, signal.SIGKILL)

    async def close(self) -> None:
        """Never raises: end the process however it can be ended, then the client."""
        server = self.client._server
        if server is not None and server.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                server.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait(), 10)
        with contextlib.suppress(Exception):
            await stop_client(self.client)


Start = t.Callable[..., t.Awaitable[Session]]


async def stop_client(client: LanguageClient) -> None:
    """Stop a pytest-lsp client whose server has exited (pygls leaves ``stop`` unannotated)."""
    stop: t.Callable[[], t.Awaitable[None]] = client.stop
    await asyncio.wait_for(stop(), 10)


@pytest.fixture
async def lsp(env: Env) -> t.AsyncIterator[Start]:
    """``await lsp(client="neovim", init={...}, extra_env={...})`` starts and initializes a server."""
    started: list[Session] = []

    async def start(
        *,
        client: str = "visual-studio-code",
        init: t.Any = None,
        extra_env: dict[str, str] | None = None,
        command: list[str] | None = None,
    ) -> Session:
        config = ClientServerConfig(
            server_command=command or SERVER_COMMAND, server_env={**env.vars, **(extra_env or {})}
        )
        lc = await config.start()
        assert isinstance(lc, LanguageClient)
        session = Session(lc, env)
        started.append(session)
        session.initialize_result = await asyncio.wait_for(
            lc.initialize_session(
                types.InitializeParams(
                    capabilities=client_capabilities(client),
                    initialization_options=init,
                    root_uri=env.root.as_uri(),
                )
            ),
            30,
        )
        return session

    try:
        yield start
    finally:
        for session in started:
            if session.alive:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(session.client.shutdown_session(), 10)
            await session.close()


@pytest.fixture
def agent_py(tmp_path: Path) -> str:
    """Path of the scriptable agent (run it with ``sys.executable``)."""
    script = tmp_path / "agent.py"
    script.write_text(AGENT_SCRIPT)
    return str(script)


def new_args(name: str, agent_py: str, *steps: str) -> dict[str, t.Any]:
    """``ctask.new`` arguments that run the scriptable agent with ``steps``."""
    return {"name": name, "agent": sys.executable, "args": [agent_py, *steps]}
