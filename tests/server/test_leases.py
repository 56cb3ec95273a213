"""``ctask/leaseState`` follows every change, whoever makes it, within 2 seconds."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import typing as t

import pytest

from ctask_ls.server import protocol as p
from tests.helpers import Env, retry_until
from tests.server.conftest import Start, new_args

LATENCY = 2.0
"""The notification must arrive within this many seconds of the change."""


async def changed_at(fn: t.Callable[[], object], seconds: float = 10.0) -> float:
    """Wait (in a thread) until ``fn()`` is true; the monotonic time it became true (within 20 ms)."""
    await asyncio.to_thread(retry_until, fn, seconds, 0.02)
    return time.monotonic()


async def test_lease_state_is_sent_for_every_task_after_initialized_and_heartbeats_are_not_changes(
    lsp: Start, env: Env, agent_py: str
) -> None:
    go = env.root / "go"
    procs = [env.spawn("new", f"done{i}", "--agent", sys.executable, "--", agent_py, "sleep=1") for i in range(2)]
    for proc in procs:
        assert await asyncio.to_thread(proc.wait, 30) == 0
    live = env.spawn("new", "live", "--agent", sys.executable, "--", agent_py, f"wait={go}")
    await changed_at(lambda: env.lease("live") is not None and env.tmux_sessions() == ["ctask-live"])

    s = await lsp(client="neovim", init={"autoAdopt": False})
    for name in ("done0", "done1"):
        note = await s.lease(name, lambda n: True, timeout=LATENCY)
        assert note.params["lease"]["state"] == "missing"
        assert note.params["tmux_alive"] is False
    note = await s.lease("live", lambda n: True, timeout=LATENCY)
    assert note.params["lease"]["state"] == "fresh_local"
    assert note.params["lease"]["owner"] == "cli"
    assert note.params["lease"]["pid"] == live.pid
    assert note.params["owned_here"] is False
    assert note.params["tmux_alive"] is True
    assert {"heartbeat_at", "age_s", "session_id", "host", "agent", "mode"} <= set(note.params["lease"])
    # One lease shape: the notification is the task object's lease and fields, as they are.
    task = await s.command(p.STATUS, {"name": "live"})
    assert set(task["lease"]) == set(note.params["lease"])
    moving = ("heartbeat_at", "age_s")
    assert {k: v for k, v in task["lease"].items() if k not in moving} == {
        k: v for k, v in note.params["lease"].items() if k not in moving
    }
    for key in ("name", "workspace", "tmux_session", "tmux_alive"):
        assert task[key] == note.params[key], key

    # the CLI heartbeats every 0.3 s: over several heartbeats, no further notification
    first = s.mark()
    beat = env.lease("live")
    assert beat is not None
    await changed_at(lambda: (env.lease("live") or {}).get("heartbeat_at") not in (None, beat["heartbeat_at"]), 5)
    with pytest.raises(AssertionError):
        await s.wait_for(p.LEASE_STATE, since=first, timeout=1.0)
    go.write_text("")
    await s.lease("live", lambda n: n["lease"]["state"] == "missing", since=first)


async def test_lease_state_follows_a_cli_in_another_terminal_and_a_sigkilled_owner(
    lsp: Start, env: Env, agent_py: str
) -> None:
    go = env.root / "go"
    s = await lsp(init={"ctask": {"autoAdopt": False}})

    # a detached launch from a terminal: the session runs unowned
    mark = s.mark()
    await asyncio.to_thread(
        env.run, "new", "t1", "--detach", "--agent", sys.executable, "--", agent_py, "write=a.txt:x", f"wait={go}"
    )
    at = time.monotonic()
    note = await s.lease("t1", lambda n: n["lease"]["state"] == "missing" and n["tmux_alive"], since=mark)
    assert note.at - at < LATENCY

    # `ctask attach` with no terminal adopts it and owns it
    mark = s.mark()
    cli = env.spawn("attach", "t1")
    at = await changed_at(lambda: (env.lease("t1") or {}).get("pid") == cli.pid)
    note = await s.lease("t1", lambda n: n["lease"]["state"] == "fresh_local", since=mark)
    assert note.at - at < LATENCY
    assert note.params["lease"]["pid"] == cli.pid
    assert note.params["owned_here"] is False

    # its owner is SIGKILLed: the lease is stale at once (a dead local pid), not after staleAfter
    mark = s.mark()
    os.killpg(cli.pid, signal.SIGKILL)
    at = time.monotonic()
    note = await s.lease("t1", lambda n: n["lease"]["state"] == "stale", since=mark)
    assert note.at - at < LATENCY
    assert f"pid {cli.pid}" in note.params["lease"]["reason"]
    assert note.params["tmux_alive"] is True

    # the agent ends while nobody owns it: the server records it (reconcile). tmux's pane-died hook would
    # run the reaper, which records it too (tests/test_reaper.py); without it, only the server can.
    assert env.tmux("set-hook", "-u", "-t", "=ctask-t1:", "pane-died").returncode == 0
    mark = s.mark()
    go.write_text("")
    at = time.monotonic()
    note = await s.lease("t1", lambda n: n["lease"]["state"] == "missing" and not n["tmux_alive"], since=mark)
    assert note.at - at < LATENCY + 1.0  # agent exit + finalize
    summary = await asyncio.to_thread(retry_until, lambda: env.summary("t1"), 5)
    assert summary["end_reason"] == "ended_unowned"
    assert summary["detected_via"] == "reconcile"
    assert summary["added"] == ["a.txt"]
    # the log message travels on its own; it may arrive a moment after the summary is on disk
    await asyncio.to_thread(retry_until, lambda: any("t1 that ended while nobody owned it" in m for m in s.logs()), 5)


async def test_lease_state_follows_another_server(lsp: Start, env: Env, agent_py: str) -> None:
    go = env.root / "go"
    watcher = await lsp(client="neovim")
    other = await lsp()
    await other.command(p.NEW, {"name": "t1", "agent": sys.executable, "args": [agent_py, f"wait={go}"]})
    at = time.monotonic()
    note = await watcher.lease("t1", lambda n: n["lease"]["state"] == "fresh_local" and n["tmux_alive"])
    assert note.at - at < LATENCY
    assert note.params["lease"]["owner"] == "server"
    assert note.params["lease"]["pid"] == other.pid
    assert note.params["owned_here"] is False

    mark = watcher.mark()
    go.write_text("")
    at = time.monotonic()
    note = await watcher.lease("t1", lambda n: n["lease"]["state"] == "missing" and not n["tmux_alive"], since=mark)
    assert note.at - at < LATENCY + 1.0  # agent exit + the other server's finalize
    await other.wait_for(p.SESSION_ENDED, name="t1")
    assert watcher.of(p.SESSION_ENDED) == []  # only the owner reports the session


async def test_an_owned_session_that_ends_says_so_before_its_lease_shows_gone(
    lsp: Start, env: Env, agent_py: str
) -> None:
    # A status bar must go from "owned" straight to "ended": the summary first,
    # then the lease change.  The pause keeps finalize between removing the
    # lease and notifying for over a second, far longer than a lease poll.
    s = await lsp(client="visual-studio-code", extra_env={"CTASK_PAUSE": "finalize.before_manifest_removed:1.5"})
    go = env.root / "go"
    mark = s.mark()
    await s.command(p.NEW, new_args("t1", agent_py, "write=a.txt:hi", f"wait={go}"))
    await s.lease("t1", lambda n: n["owned_here"] and n["tmux_alive"], since=mark)
    mark = s.mark()  # the task showed "missing" once already, before its launch
    go.write_text("")
    gone = await s.lease("t1", lambda n: n["lease"]["state"] == "missing", since=mark, timeout=15)
    ended = await s.wait_for(p.SESSION_ENDED, name="t1", since=mark)
    seen = [
        (round(n.at, 2), n.method, n.params.get("lease", {}).get("state"), n.params.get("tmux_alive"))
        for n in s.notes[mark:]
        if n.params.get("name") == "t1" and n.method not in (p.DIFF_NOTIFICATION, p.ACTIVITY)
    ]
    assert ended.at <= gone.at, f"the lease showed gone before the session's summary arrived: {seen}"
    assert [method for _, method, *_ in seen][-2:] == [p.SESSION_ENDED, p.LEASE_STATE], seen
    assert ended.params["summary"]["added"] == ["a.txt"]
