"""``ctask/activity`` follows an agent's hooks at once, and its output with the polls (SPEC 3.10).

The agent is :mod:`tests.hook_agent`: it runs ctask's real hook script with
Claude Code's event JSON on stdin, from inside its tmux pane, as Claude Code
does.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import typing as t

import pytest

from ctask_ls.server import protocol as p
from tests.hook_agent import HOOK, hook_agent

if t.TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers import Env
    from tests.server.conftest import Session, Start

LATENCY = 2.0
"""A hook's activity must reach the client within this many seconds (the issue's target is 0.2 s p95:
bench/run.py measures it; this bound only catches a change that waits for a poll it should not need)."""


def state(params: dict[str, t.Any]) -> str | None:
    now = params.get("activity")
    return None if now is None else str(now["state"])


async def activity(s: Session, name: str, wanted: str | None, *, since: int = 0, timeout: float = 10.0) -> t.Any:
    return await s.wait_for(p.ACTIVITY, lambda n: state(n) == wanted, name=name, since=since, timeout=timeout)


def go(env: Env, name: str, step: str) -> float:
    """Let the agent of ``name`` past its ``wait=STEP``; the monotonic time it was let go."""
    (env.tree(name) / step).write_text("")
    return time.monotonic()


async def test_activity_follows_the_agents_hooks_with_its_conversation_id(lsp: Start, env: Env, tmp_path: Path) -> None:
    agent = hook_agent(tmp_path)
    steps = [
        "conv=conv-1",
        "event=UserPromptSubmit",
        "wait=ask",
        "event=PermissionRequest:Bash",
        "wait=approve",
        "event=PostToolUse:Bash",
        "event=Stop",
        "wait=quit",
    ]
    s = await lsp(init={"autoAdopt": False})
    await s.command(p.NEW, {"name": "t1", "agent": agent[0], "args": [*agent[1:], *steps]})

    # the pane's first output may say working (source output) before the hook's record is seen
    note = await s.wait_for(
        p.ACTIVITY, lambda n: state(n) == "working" and n["activity"]["source"] == "hook", name="t1", timeout=10
    )
    assert note.params["conversation_id"] == "conv-1"
    assert note.params["workspace"] == str(env.tree("t1"))

    mark = s.mark()
    at = go(env, "t1", "ask")
    note = await activity(s, "t1", "needs_input", since=mark)
    assert note.at - at < LATENCY
    assert note.params["activity"] == {
        "state": "needs_input",
        "since": note.params["activity"]["since"],
        "source": "hook",
        "message": "permission to use Bash",
    }
    assert note.params["conversation_id"] == "conv-1"
    # one notification per change: nothing in between, nothing repeated
    assert [state(n) for n in s.of(p.ACTIVITY, "t1", since=mark)] == ["needs_input"]

    # the task object carries the same activity
    task = await s.command(p.STATUS, {"name": "t1"})
    assert task["activity"] == note.params["activity"]
    assert task["conversation_id"] == "conv-1"

    # a second editor is told where things stand at once, after initialized
    other = await lsp(client="neovim", init={"autoAdopt": False})
    first = await activity(other, "t1", "needs_input", timeout=LATENCY + 1)
    assert first.params["conversation_id"] == "conv-1"

    mark = s.mark()
    go(env, "t1", "approve")
    note = await activity(s, "t1", "idle", since=mark)
    assert note.params["activity"]["source"] == "hook"
    assert "message" not in note.params["activity"]
    assert "needs_input" not in [state(n) for n in s.of(p.ACTIVITY, "t1", since=mark)]

    # the agent ends: the activity goes (exited, if a poll sees the dead pane before the session is
    # recorded, then null); the conversation id stays, for a resume
    mark = s.mark()
    go(env, "t1", "quit")
    note = await activity(s, "t1", None, since=mark)
    assert note.params["conversation_id"] == "conv-1"
    assert set(map(state, s.of(p.ACTIVITY, "t1", since=mark))) <= {"exited", None}
    ended = await s.wait_for(p.SESSION_ENDED, name="t1")
    assert ended.params["summary"]["end_reason"] == "agent_exited"


async def test_activity_from_output_follows_the_polls_without_hooks(lsp: Start, env: Env, agent_py: str) -> None:
    # Long enough that "working" from the agent's first output is still so once its launch is shown (the
    # activity of a launch comes after its lease; on a loaded machine a launch takes a second or two).
    env.write_config({"idle_after": 3})
    s = await lsp(init={"autoAdopt": False})
    steps = ["print=hello", "wait=more", "print=again", "wait=quit"]
    await s.command(p.NEW, {"name": "t2", "agent": sys.executable, "args": [agent_py, *steps]})

    note = await activity(s, "t2", "working")
    assert note.params["activity"]["source"] == "output"
    assert note.params["conversation_id"] is None
    note = await activity(s, "t2", "idle")
    assert note.params["activity"]["source"] == "output"

    mark = s.mark()
    go(env, "t2", "more")
    await activity(s, "t2", "working", since=mark)
    await activity(s, "t2", "idle", since=mark)
    go(env, "t2", "quit")
    await activity(s, "t2", None, since=mark)


async def test_an_event_of_another_session_changes_nothing(lsp: Start, env: Env, tmp_path: Path) -> None:
    """A hook that is not the running session's (a stale agent, a forged id) is never an activity."""
    agent = hook_agent(tmp_path)
    s = await lsp(init={"autoAdopt": False})
    steps = ["event=UserPromptSubmit", "wait=quit"]
    await s.command(p.NEW, {"name": "t3", "agent": agent[0], "args": [*agent[1:], *steps]})
    await activity(s, "t3", "working")
    mark = s.mark()
    event = {"hook_event_name": "PermissionRequest", "session_id": "x", "tool_name": "Bash"}
    forged = {**env.vars, "CTASK_TASK": "t3", "CTASK_SESSION_ID": "not-the-session"}
    argv = [sys.executable, "-I", "-S", str(HOOK), "claude"]
    await asyncio.to_thread(subprocess.run, argv, input=json.dumps(event).encode(), env=forged, check=True)
    with pytest.raises(AssertionError):
        await s.wait_for(p.ACTIVITY, name="t3", since=mark, timeout=1.5)
    go(env, "t3", "quit")
