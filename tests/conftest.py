from __future__ import annotations

import os
import sys
import typing as t
from pathlib import Path

import pytest

from tests.helpers import AGENT_SCRIPT, Env


@pytest.fixture
def env(tmp_path: Path, request: pytest.FixtureRequest) -> t.Iterator[Env]:
    """A private home, XDG dirs, config and tmux socket; cleaned up even on failure.

    For the session-core tests (this directory), teardown also checks the
    session log of every task: exactly one record per finished session.
    """
    e = Env(tmp_path)
    try:
        yield e
    finally:
        e.cleanup()
    if request.node.path.parent == Path(__file__).parent:
        problems = e.session_log_problems()
        assert not problems, "; ".join(problems)


@pytest.fixture
def core_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    """The same isolation applied to this test process, for in-process Core tests."""
    for key in ("TMUX", "TMUX_PANE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.vars.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def agent(tmp_path: Path) -> list[str]:
    """argv prefix of a scriptable agent: ``[*agent, "write=a.txt:hi", "sleep=1", "exit=0"]``.

    Steps: ``write=NAME:TEXT``, ``sleep=S``, ``wait=FILE`` (until FILE exists in the
    workspace), ``exit=N``, ``print=TEXT``, ``dump=FILE`` (argv, environment, cwd and
    pid as JSON).  In a repo task, files are in the worktree instead.
    """
    script = tmp_path / "agent.py"
    script.write_text(AGENT_SCRIPT)
    return [sys.executable, str(script)]


@pytest.fixture(autouse=True)
def _no_real_tmux(monkeypatch: pytest.MonkeyPatch) -> None:
    """Belt and braces: nothing in a test may reach the user's tmux server."""
    monkeypatch.delenv("TMUX", raising=False)
    if "CTASK_TMUX_SOCKET" not in os.environ:
        monkeypatch.setenv("CTASK_TMUX_SOCKET", "/nonexistent-ctask-test-guard/tmux.sock")


@pytest.fixture
def agents(env: Env, tmp_path: Path) -> Env:
    """The test agents ``claude``, ``codex`` and ``bursty`` first on PATH (tests/agents); each hook call they
    make logged in ``hooks.jsonl`` and the arguments of each run in ``argv.jsonl``."""
    from tests.agents import install

    bin_dir = install(tmp_path / "bin")
    env.vars["PATH"] = f"{bin_dir}:{env.vars['PATH']}"
    env.vars["FAKE_AGENT_LOG"] = str(tmp_path / "hooks.jsonl")
    env.vars["FAKE_AGENT_ARGV"] = str(tmp_path / "argv.jsonl")
    return env
