"""The persistent dispatcher (SPEC 3.6) and adoption (SPEC 3.7), with real processes and SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import socket

import pytest
import yaml

from tests.helpers import Env, retry_until, stop_outside_the_lock

HOST = socket.gethostname()


def _backdate(env: Env, name: str) -> None:
    """Set task.yaml's updated_at far in the past, so that any bump is visible."""
    path = env.task_dir(name) / "task.yaml"
    meta = yaml.safe_load(path.read_text())
    meta["updated_at"] = "2020-01-01T00:00:00Z"
    path.write_text(yaml.safe_dump(meta, sort_keys=False))


def test_passive_reattach_to_a_live_owner_writes_nothing(env: Env, agent: list[str]) -> None:
    owner = env.spawn_new("t1", agent, "wait=go")
    _backdate(env, "t1")
    task_yaml = env.read_control("t1", "task.yaml")
    lease = env.lease("t1")
    assert lease is not None
    events = env.events("t1")

    for command in ("attach", "resume"):
        proc = env.run(command, "t1")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"task t1 is owned by fresh_local (cli pid {owner.pid} on {HOST}, heartbeat ")
        assert proc.stdout.endswith("; not attaching: no terminal\n")
        assert "adopting" not in proc.stderr
    proc = env.run("attach", "t1", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["action"] == "passive"
    assert result["session"]["lease"]["state"] == "fresh_local"
    assert result["session"]["lease"]["pid"] == owner.pid
    assert result["terminal"]["args"][-3:] == ["attach-session", "-t", "=ctask-t1"]

    assert env.read_control("t1", "task.yaml") == task_yaml, "passive reattach must not bump updated_at"
    after = env.lease("t1")
    assert after is not None
    assert (after["session_id"], after["pid"], after["started_at"]) == (
        lease["session_id"],
        lease["pid"],
        lease["started_at"],
    )
    assert env.events("t1") == events, "passive reattach writes no event"

    env.go("t1")
    code, out, err = env.finish(owner)
    assert code == 0, err
    assert "(owned, baseline original, via polling)" in out
    env.records("t1", 1)


def test_adoption_after_the_owner_is_killed_keeps_the_original_baseline(env: Env, agent: list[str]) -> None:
    owner = env.spawn_new("t1", agent, "write=before.txt:B", "wait=go", "write=after.txt:A")
    retry_until(lambda: (env.tree("t1") / "before.txt").exists())
    original = env.lease("t1")
    assert original is not None
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()

    status = env.json("status", "t1")
    assert status["lease"]["state"] == "stale"
    assert status["lease"]["reason"] == f"owner pid {owner.pid} on {HOST} is not running"
    assert status["tmux_alive"] is True
    assert env.summary("t1") is None, "a running session is not finalized by status"

    (env.tree("t1") / "during.txt").write_text("written while nobody owned the session")
    _backdate(env, "t1")
    adopter = env.spawn("attach", "t1")
    lease = env.wait_owned("t1", adopter)
    assert lease["session_id"] != original["session_id"]
    assert lease["host"] == HOST
    assert env.task_yaml("t1")["updated_at"] != "2020-01-01T00:00:00Z", "adoption bumps updated_at"
    assert env.json("status", "t1")["lease"]["state"] == "fresh_local"

    env.go("t1")
    code, out, err = env.finish(adopter)
    assert code == 0, err
    assert "adopting orphaned session of task t1" in err
    assert "(adopted, baseline original, via polling)" in out

    summary = env.summary("t1")
    assert summary is not None
    assert summary["session_ownership"] == "adopted"
    assert summary["baseline"] == "original"
    assert summary["session_id"] == original["session_id"], "the session keeps the id minted at launch"
    assert summary["started_at"] == original["started_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", summary["adopted_from_orphan_at"])
    assert summary["added"] == ["after.txt", "before.txt", "during.txt", "go"]
    assert summary["end_reason"] == "agent_exited"
    assert env.lease("t1") is None
    assert env.tmux_sessions() == []
    (record,) = env.records("t1", 1)
    assert record["session_id"] == original["session_id"]

    kinds = env.event_kinds("t1")
    for kind in ("lease_taken", "stale_seen", "adopted", "lease_released", "finalized"):
        assert kind in kinds, (kind, kinds)
    assert kinds.index("lease_taken") < kinds.index("stale_seen") < kinds.index("adopted") < kinds.index("finalized")
    stale = next(e for e in env.events("t1") if e["event"] == "stale_seen")
    assert stale["reason"] == f"owner pid {owner.pid} on {HOST} is not running"
    adopted = next(e for e in env.events("t1") if e["event"] == "adopted")
    assert adopted["previous"] == original["session_id"]
    assert adopted["previous_state"] == "stale"


def test_resume_adopts_a_detached_session(env: Env, agent: list[str]) -> None:
    env.new_detached("t1", agent, "wait=go")
    env.own_until_done("resume", "t1")
    summary = env.summary("t1")
    assert summary is not None
    assert (summary["session_ownership"], summary["baseline"]) == ("adopted", "original")
    adopted = [e for e in env.events("t1") if e["event"] == "adopted"]
    assert len(adopted) == 1
    assert adopted[0]["previous_state"] == "missing"
    env.records("t1", 1)


@pytest.mark.parametrize("baseline", ["missing", "corrupt"])
def test_adoption_without_a_usable_baseline_captures_a_fresh_one(env: Env, agent: list[str], baseline: str) -> None:
    env.new_detached("t1", agent, "wait=go")
    start = env.task_dir("t1") / "manifest.start.json"
    if baseline == "missing":
        start.unlink()
    else:
        start.write_text('{"entries": [truncated')
    (env.tree("t1") / "before-adoption.txt").write_text("x")
    _out, err = env.own_until_done("attach", "t1")
    if baseline == "corrupt":
        assert "manifest.start.json is corrupt" in err
        aside = [p.name for p in start.parent.iterdir() if p.name.startswith("manifest.start.json.corrupt-")]
        assert len(aside) == 1
    summary = env.summary("t1")
    assert summary is not None
    assert summary["baseline"] == "adoption"
    assert summary["session_ownership"] == "adopted"
    assert summary["added"] == ["go"], "files from before the adoption are in the fresh baseline"
    env.records("t1", 1)


def test_fresh_remote_lease_is_adopted_only_with_yes(env: Env, agent: list[str]) -> None:
    env.new_detached("t1", agent, "wait=go")
    env.write_lease("t1", host="build-box.example", pid=4242)
    before = env.read_control("t1", "lease.yaml")
    for command in ("attach", "resume"):
        proc = env.run(command, "t1")
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.splitlines()[-1] == (
            "ctask: error: task t1 is held by build-box.example pid 4242 with a fresh heartbeat; "
            "adoption declined (rerun with --yes to adopt it here)"
        )
        assert env.read_control("t1", "lease.yaml") == before
    assert env.tmux_alive("t1")

    env.write_lease("t1", host="build-box.example", pid=4242)  # keep it fresh
    adopter = env.spawn("attach", "t1", "--yes")
    lease = env.wait_owned("t1", adopter)
    assert lease["host"] == HOST
    env.go("t1")
    code, out, err = env.finish(adopter)
    assert code == 0, err
    assert "(adopted, baseline original" in out
    adopted = [e for e in env.events("t1") if e["event"] == "adopted"]
    assert [e["previous_state"] for e in adopted] == ["fresh_remote"]
    env.records("t1", 1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_releases_the_lease_and_leaves_the_session_running(env: Env, agent: list[str], sig: int) -> None:
    owner = env.spawn_new("t1", agent, "wait=go")
    os.kill(owner.pid, sig)
    code, _out, err = env.finish(owner)
    assert code == 0, err
    assert "released task t1; its session keeps running: `ctask attach t1` takes it back" in err
    assert env.lease("t1") is None
    assert env.tmux_alive("t1")
    released = [e for e in env.events("t1") if e["event"] == "lease_released"]
    assert [e["reason"] for e in released] == ["interrupted"]

    proc = env.run("list")
    assert proc.returncode == 0
    assert env.summary("t1") is None, "a released session that still runs is not finalized"
    env.own_until_done("attach", "t1")
    summary = env.summary("t1")
    assert summary is not None
    assert (summary["session_ownership"], summary["baseline"]) == ("adopted", "original")
    env.records("t1", 1)


def test_adopter_killed_after_taking_the_lease_is_adopted_again(env: Env, agent: list[str]) -> None:
    owner = env.spawn_new("t1", agent, "write=first.txt:1", "wait=go")
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    crashing = env.spawn("attach", "t1", env={"CTASK_FAULT": "adopt.lease_written"})
    crashing.wait(timeout=20)
    assert crashing.returncode == -signal.SIGKILL
    assert env.json("status", "t1")["lease"]["state"] == "stale"
    env.own_until_done("attach", "t1")
    summary = env.summary("t1")
    assert summary is not None
    assert summary["baseline"] == "original"
    assert summary["added"] == ["first.txt", "go"]
    env.records("t1", 1)


def test_resume_records_an_ended_session_before_launching_a_new_one(env: Env, agent: list[str]) -> None:
    env.new_detached("t1", agent, "wait=go")
    env.go("t1")
    retry_until(lambda: (env.pane("t1") or {}).get("dead"))
    (env.tree("t1") / "go").unlink()
    owner = env.spawn("resume", "t1")
    env.wait_owned("t1", owner)
    first = env.records("t1", 1)[0]
    assert (first["end_reason"], first["detected_via"]) == ("ended_unowned", "reconcile")
    env.go("t1")
    code, _out, err = env.finish(owner)
    assert code == 0, err
    second = env.records("t1", 2)[1]
    assert second["session_ownership"] == "owned"
    assert second["end_reason"] == "agent_exited"


def test_frozen_owner_that_wakes_after_adoption_steps_aside(env: Env, agent: list[str]) -> None:
    owner = env.spawn_new("t1", agent, "wait=go")
    stop_outside_the_lock(env, owner.pid)  # alive, but its heartbeat stops
    try:
        retry_until(lambda: env.json("status", "t1")["lease"]["state"] == "stale", 10, 0.2)
        adopter = env.spawn("attach", "t1")
        env.wait_owned("t1", adopter)
    finally:
        os.kill(owner.pid, signal.SIGCONT)
    code, _out, err = env.finish(owner)
    assert code == 0, err
    assert f"no longer the owner of task t1: the lease now belongs to {HOST} pid {adopter.pid}" in err
    lease = env.lease("t1")
    assert lease is not None and lease["pid"] == adopter.pid, "the woken owner must not touch the new lease"
    env.go("t1")
    code, out, err = env.finish(adopter)
    assert code == 0, err
    assert "(adopted, baseline original" in out
    env.records("t1", 1)
