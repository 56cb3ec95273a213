"""The server owns what it launches or adopts, and hands it on when it stops or dies."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
import statistics
import sys
import time

import pytest
import yaml

from ctask_ls.core import lease as core_lease
from ctask_ls.server import protocol as p
from tests.helpers import Env, retry_until
from tests.server.conftest import Start, new_args


async def test_status_answers_promptly_while_ten_sessions_are_owned(lsp: Start, env: Env, agent_py: str) -> None:
    s = await lsp()
    go = env.root / "go"
    names = [f"t{i}" for i in range(10)]
    results = await asyncio.gather(
        *(s.command(p.NEW, new_args(n, agent_py, f"write={n}.txt:x", f"wait={go}")) for n in names)
    )
    assert [r["action"] for r in results] == ["launched"] * 10
    for n in names:
        await s.lease(n, lambda x: x["owned_here"] and x["tmux_alive"])

    latencies = []
    for i in range(30):
        started = time.monotonic()
        status = await s.command(p.STATUS, {"name": names[i % 10]})
        latencies.append(time.monotonic() - started)
        assert status["lease"]["state"] == "fresh_local"
    started = time.monotonic()
    listed = await s.command(p.LIST, {})
    list_latency = time.monotonic() - started
    assert len(listed) == 10
    print(
        f"\nctask.status with 10 owned sessions: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms; ctask.list {list_latency * 1000:.0f} ms"
    )
    assert statistics.median(latencies) < 0.25
    assert max(latencies) < 1.0
    # every lease stayed fresh: heartbeats never waited on the loop
    assert all(x["lease"]["state"] == "fresh_local" for x in listed)

    mark = s.mark()
    go.write_text("")
    for n in names:
        ended = await s.wait_for(p.SESSION_ENDED, name=n, since=mark, timeout=15)
        assert ended.params["summary"]["added"] == [f"{n}.txt"]
    assert env.tmux_sessions() == []


async def test_shutdown_releases_leases_and_a_second_server_adopts_them_at_once(
    lsp: Start, env: Env, agent_py: str
) -> None:
    go = env.root / "go"
    first = await lsp()
    for n in ("a", "b"):
        await first.command(p.NEW, new_args(n, agent_py, f"write={n}.txt:1", f"wait={go}", f"write={n}2.txt:2"))
    await first.wait_for(p.DIFF_NOTIFICATION, name="a", timeout=8)
    await first.shutdown()

    # leases gone, tmux sessions still running, baselines kept
    assert env.lease("a") is None and env.lease("b") is None
    assert sorted(env.tmux_sessions()) == ["ctask-a", "ctask-b"]
    assert all(e["event"] != "finalized" for e in env.events("a"))
    released = [e for e in env.events("a") if e["event"] == "lease_released"]
    assert released and released[-1]["reason"] == "server shutdown"

    second = await lsp(client="neovim")
    for n in ("a", "b"):
        note = await second.lease(n, lambda x: x["owned_here"] and x["lease"]["state"] == "fresh_local", timeout=2.0)
        assert note.params["lease"]["pid"] == second.pid
    assert any("adopting orphaned session of task a" in m for m in second.logs())

    mark = second.mark()
    go.write_text("")
    for n in ("a", "b"):
        ended = await second.wait_for(p.SESSION_ENDED, name=n, since=mark)
        summary = ended.params["summary"]
        assert summary["session_ownership"] == "adopted"
        assert summary["baseline"] == "original"  # the whole session, across both servers
        assert summary["added"] == [f"{n}.txt", f"{n}2.txt"]
        assert "adopted_from_orphan_at" in summary
    assert [r["session_ownership"] for r in env.sessions("a")] == ["adopted"]


async def test_a_killed_servers_sessions_go_stale_and_a_new_server_adopts_and_finalizes_them(
    lsp: Start, env: Env, agent_py: str
) -> None:
    go = env.root / "go"
    doomed = await lsp()
    launched = await doomed.command(p.NEW, new_args("t1", agent_py, "write=a.txt:1", f"wait={go}", "write=b.txt:2"))
    await doomed.wait_for(p.DIFF_NOTIFICATION, name="t1", timeout=8)
    doomed.kill()  # SIGKILL: no shutdown, no release
    await asyncio.to_thread(retry_until, lambda: not doomed.alive, 10)

    status = await asyncio.to_thread(env.json, "status", "t1")
    assert status["lease"]["state"] == "stale"
    assert f"pid {doomed.pid}" in status["lease"]["reason"]
    assert env.tmux_sessions() == ["ctask-t1"]

    heir = await lsp(init={"autoAdopt": True})
    note = await heir.lease("t1", lambda x: x["owned_here"], timeout=2.0)
    assert note.params["lease"]["state"] == "fresh_local"
    lease = env.lease("t1")
    assert lease is not None and lease["pid"] == heir.pid

    mark = heir.mark()
    go.write_text("")
    ended = await heir.wait_for(p.SESSION_ENDED, name="t1", since=mark)
    summary = ended.params["summary"]
    assert summary["session_ownership"] == "adopted"
    assert summary["baseline"] == "original"
    assert summary["session_id"] == launched["session"]["session_id"]
    assert summary["added"] == ["a.txt", "b.txt"]
    final = await heir.wait_for(p.DIFF_NOTIFICATION, lambda x: x["final"], name="t1", since=mark)
    assert final.params["added"] == ["a.txt", "b.txt"]
    assert [e["event"] for e in env.events("t1")].count("stale_seen") == 1


def write_remote_lease(env: Env, name: str) -> bytes:
    """A fresh lease held by a process on another host (a shared filesystem)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    lease = {
        "schema": 1,
        "session_id": f"elsewhere-4242-{int(time.time())}",
        "host": "elsewhere",
        "pid": 4242,
        "agent": "claude",
        "mode": "persistent",
        "tmux_session": f"ctask-{name}",
        "started_at": now,
        "heartbeat_at": now,
        "owner": "cli",
    }
    path = env.task_dir(name) / "lease.yaml"
    path.write_text(yaml.safe_dump(lease, sort_keys=False))
    return path.read_bytes()


async def test_fresh_remote_adoption_asks_and_cancel_changes_nothing(lsp: Start, env: Env, agent_py: str) -> None:
    assert socket.gethostname() != "elsewhere"
    go = env.root / "go"
    await asyncio.to_thread(
        env.run, "new", "r1", "--detach", "--agent", sys.executable, "--", agent_py, "write=a.txt:1", f"wait={go}"
    )
    before = write_remote_lease(env, "r1")
    events_before = env.events("r1")

    s = await lsp(init={"ctask": {"staleAfter": 120, "autoAdopt": True}})
    note = await s.lease("r1", lambda x: True, timeout=2.0)
    assert note.params["lease"]["state"] == core_lease.FRESH_REMOTE
    assert note.params["tmux_alive"] is True

    s.answer = p.CANCEL
    declined = await s.error(p.RESUME, {"name": "r1"})
    assert declined.kind == "AdoptionDeclined"
    assert "elsewhere pid 4242" in declined.message
    assert p.ADOPT in declined.message
    assert len(s.asked) == 1 and "r1" in s.asked[0]
    assert (env.task_dir("r1") / "lease.yaml").read_bytes() == before
    assert env.events("r1") == events_before
    assert env.tmux_sessions() == ["ctask-r1"]

    s.answer = None  # dismissing the question is a Cancel too
    assert (await s.error(p.ATTACH, {"name": "r1"})).kind == "AdoptionDeclined"
    assert (env.task_dir("r1") / "lease.yaml").read_bytes() == before

    s.answer = p.ADOPT
    adopted = await s.command(p.ATTACH, {"name": "r1"})
    assert adopted["action"] == "adopted"
    assert adopted["session"]["lease"]["host"] == socket.gethostname()
    assert adopted["session"]["lease"]["pid"] == s.pid
    assert len(s.asked) == 3
    await s.lease("r1", lambda x: x["owned_here"])

    mark = s.mark()
    go.write_text("")
    ended = await s.wait_for(p.SESSION_ENDED, name="r1", since=mark)
    assert ended.params["summary"]["session_ownership"] == "adopted"
    assert ended.params["summary"]["added"] == ["a.txt"]
    assert os.path.exists(env.task_dir("r1"))


@pytest.mark.parametrize("how", ["sigterm", "client-vanishes"])
async def test_sigterm_or_a_vanished_client_releases_leases_and_sessions_keep_running(
    lsp: Start, env: Env, agent_py: str, how: str
) -> None:
    go = env.root / "go"
    s = await lsp()
    await s.command(p.NEW, new_args("t1", agent_py, f"wait={go}"))
    server = s.client._server
    assert server is not None
    if how == "sigterm":
        server.send_signal(signal.SIGTERM)
    else:
        assert server.stdin is not None
        server.stdin.close()  # the editor died: stdin reaches EOF
    assert await asyncio.wait_for(server.wait(), 15) == 0
    assert env.lease("t1") is None
    assert env.tmux_sessions() == ["ctask-t1"]
    assert [e["event"] for e in env.events("t1")][-1] == "lease_released"


async def test_auto_adopt_takes_over_a_detached_launch_while_running(lsp: Start, env: Env, agent_py: str) -> None:
    go = env.root / "go"
    s = await lsp(client="neovim")
    mark = s.mark()
    await asyncio.to_thread(
        env.run, "new", "d1", "--detach", "--agent", sys.executable, "--", agent_py, "write=a.txt:1", f"wait={go}"
    )
    at = time.monotonic()
    note = await s.lease("d1", lambda x: x["owned_here"], since=mark)
    assert note.at - at < 2.0
    go.write_text("")
    ended = await s.wait_for(p.SESSION_ENDED, name="d1", since=mark)
    assert ended.params["summary"]["session_ownership"] == "adopted"
    assert ended.params["summary"]["baseline"] == "original"
    assert ended.params["summary"]["added"] == ["a.txt"]
