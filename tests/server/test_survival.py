"""The server after the tmux server went away (SPEC 3.12): it records the session, and ``ctask.resume``
carries the agent's conversation on, asking the editor before a fresh start when the agent refuses.

The agent is the test ``claude`` (tests/agents), which keeps Claude Code's hook contract and records the
arguments of each run.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

from ctask_ls.server import protocol as p
from tests.agents import install

if t.TYPE_CHECKING:
    from tests.helpers import Env
    from tests.server.conftest import Session, Start


def runs(env: Env) -> list[list[str]]:
    lines = Path(env.vars["FAKE_AGENT_ARGV"]).read_text().splitlines()
    return [r["argv"] for r in map(json.loads, lines) if r["agent"] == "claude"]


async def conversation(s: Session, since: int = 0) -> str:
    note = await s.wait_for(p.ACTIVITY, lambda n: n.get("conversation_id") is not None, name="t1", since=since)
    return str(note.params["conversation_id"])


async def take_the_tmux_server_away(s: Session, env: Env) -> dict[str, t.Any]:
    mark = s.mark()
    assert env.tmux("kill-server").returncode == 0
    ended = await s.wait_for(p.SESSION_ENDED, name="t1", since=mark, timeout=10)
    return t.cast("dict[str, t.Any]", ended.params["summary"])


async def test_resume_carries_the_conversation_on_and_asks_before_a_fresh_start(
    lsp: Start, env: Env, tmp_path: Path
) -> None:
    env.vars["PATH"] = f"{install(tmp_path / 'bin')}:{env.vars['PATH']}"
    env.vars["FAKE_AGENT_LOG"] = str(tmp_path / "hooks.jsonl")
    env.vars["FAKE_AGENT_ARGV"] = str(tmp_path / "argv.jsonl")
    refuses = tmp_path / "resume-fails"
    env.vars["FAKE_AGENT_RESUME_FAILS"] = str(refuses)
    s = await lsp()
    await s.command(p.NEW, {"name": "t1", "agent": "claude"})
    conv = await conversation(s)

    summary = await take_the_tmux_server_away(s, env)  # the server owned it: it records it at once
    assert summary["end_reason"] == "tmux_server_gone"
    mark = s.mark()
    result = await s.command(p.RESUME, {"name": "t1"})
    assert result["action"] == "launched"
    assert runs(env)[-1][2:] == ["--resume", conv]
    assert await conversation(s, since=mark) == conv

    # the agent refuses to resume: the editor is asked; Cancel leaves it, with what to do.  (Taken away before
    # its hooks said anything: the conversation it resumed is still the one to resume.)
    await take_the_tmux_server_away(s, env)
    refuses.write_text("")
    s.answer = None
    error = await s.error(p.RESUME, {"name": "t1"})
    assert error.kind == "LaunchFailed"
    assert "did not resume its conversation" in error.message and "--fresh" in error.message
    assert s.asked[-1].startswith("ctask: task t1: the agent did not resume its conversation")
    assert runs(env)[-1][2:] == ["--resume", conv]

    # the editor says yes to a new conversation
    s.answer = p.FRESH
    result = await s.command(p.RESUME, {"name": "t1"})
    assert result["action"] == "launched"
    assert s.asked[-1] == s.asked[-2], "asked again, the same question"
    assert runs(env)[-2][2:] == ["--resume", conv] and runs(env)[-1][2:] == []
    assert env.tmux_alive("t1")
