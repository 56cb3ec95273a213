"""Detached launches and reconciliation (SPEC 3.8): no session ends unrecorded, none is recorded twice."""

from __future__ import annotations

import json
import shutil
import signal

import pytest

from tests.helpers import Env, retry_until


def _start_manifest(env: Env, name: str) -> dict[str, object] | None:
    path = env.task_dir(name) / "manifest.start.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_new_detach_returns_at_once_leaving_the_session_running_unowned(env: Env, agent: list[str]) -> None:
    proc = env.new_detached("t1", agent, "wait=go")
    assert proc.stdout == "task t1 runs detached in tmux session ctask-t1\n  attach: ctask attach t1\n"
    assert env.lease("t1") is None
    assert env.tmux_alive("t1")
    assert _start_manifest(env, "t1") is not None, "the start manifest stays as the baseline"
    assert env.task_yaml("t1")["provisional"] is False
    released = [e for e in env.events("t1") if e["event"] == "lease_released"]
    assert [e["reason"] for e in released] == ["detached"]
    assert env.json("status", "t1")["lease"]["state"] == "missing"


def test_new_detach_json_gives_the_session_and_a_terminal_spec(env: Env, agent: list[str]) -> None:
    proc = env.run("new", "t1", "--detach", "--json", "--agent", agent[0], "--", agent[1], "wait=go")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    start = _start_manifest(env, "t1")
    assert start is not None
    assert result["task"] == "t1"
    assert result["action"] == "detached"
    assert result["session"]["session_id"] == start["session_id"]
    assert result["session"]["tmux_session"] == "ctask-t1"
    assert result["session"]["lease"] == {"state": "missing"}
    terminal = result["terminal"]
    assert terminal["command"] == shutil.which("tmux")
    assert terminal["args"] == ["-S", env.socket, "attach-session", "-t", "=ctask-t1"]
    assert terminal["cwd"] == str(env.tree("t1"))


@pytest.mark.parametrize("command", [("list",), ("status", "t1", "--json")])
def test_detached_session_that_ended_unowned_is_finalized_by_list_and_status(
    env: Env, agent: list[str], command: tuple[str, ...]
) -> None:
    env.new_detached("t1", agent, "print=finished the job", "wait=go")
    env.go("t1")
    retry_until(lambda: (env.pane("t1") or {}).get("dead"))
    proc = env.run(*command)
    assert proc.returncode == 0, proc.stderr
    summary = env.summary("t1")
    assert summary is not None
    assert summary["end_reason"] == "ended_unowned"
    assert summary["detected_via"] == "reconcile"
    assert summary["session_ownership"] == "unowned"
    assert summary["baseline"] == "original"
    assert summary["added"] == ["go"]
    assert "finished the job" in summary["last_lines"]
    assert env.tmux_sessions() == []
    assert _start_manifest(env, "t1") is None
    if command == ("list",):
        assert "ended_unowned +1 ~0 -0" in proc.stdout
    assert env.run("list").returncode == 0
    assert env.run("status", "t1").returncode == 0
    (record,) = env.records("t1", 1)
    assert record["end_reason"] == "ended_unowned"
    assert env.event_kinds("t1")[-1] == "finalized"


@pytest.mark.parametrize("how", ["kill-session", "kill-server"])
def test_session_that_vanished_from_tmux_is_finalized_by_reconcile(env: Env, agent: list[str], how: str) -> None:
    env.new_detached("t1", agent, "write=a.txt:1", "wait=go")
    retry_until(lambda: (env.tree("t1") / "a.txt").exists())
    if how == "kill-session":
        env.new_detached("t2", agent, "wait=go")  # tmux's server lives on with another session
        env.tmux("kill-session", "-t", "=ctask-t1")
    else:
        env.tmux("kill-server")
    # A server that went away took the session with it: a reboot, as far as ctask can tell (SPEC 3.12).
    reason = "ended_unowned" if how == "kill-session" else "tmux_server_gone"
    status = env.json("status", "t1")
    assert status["tmux_alive"] is False
    assert status["last_summary"]["end_reason"] == reason
    summary = env.summary("t1")
    assert summary is not None
    assert (summary["end_reason"], summary["detected_via"]) == (reason, "reconcile")
    assert summary["added"] == ["a.txt"]
    assert "exit_status" not in summary, "nobody saw the agent exit"
    env.records("t1", 1)


def test_reconcile_leaves_a_running_unowned_session_alone(env: Env, agent: list[str]) -> None:
    env.new_detached("t1", agent, "wait=go")
    proc = env.run("list")
    assert proc.returncode == 0
    assert "t1" in proc.stdout and "running" in proc.stdout
    assert env.summary("t1") is None
    assert _start_manifest(env, "t1") is not None
    assert env.tmux_alive("t1")
    env.records("t1", 0)


@pytest.mark.parametrize(
    "fault", ["finalize.start", "finalize.summary_written", "finalize.logged", "finalize.before_manifest_removed"]
)
def test_owner_killed_during_finalize_is_completed_by_the_next_list(env: Env, agent: list[str], fault: str) -> None:
    # The fault point makes the owner SIGKILL itself at that step of finalize.
    owner = env.spawn(
        "new", "t1", "--agent", agent[0], "--", agent[1], "write=a.txt:x", "sleep=0.5", env={"CTASK_FAULT": fault}
    )
    owner.wait(timeout=30)
    assert owner.returncode == -signal.SIGKILL
    proc = env.run("list")
    assert proc.returncode == 0, proc.stderr
    (record,) = env.records("t1", 1)
    summary = env.summary("t1")
    assert summary is not None
    assert summary["session_id"] == record["session_id"]
    assert summary["added"] == ["a.txt"]
    assert env.lease("t1") is None
    assert _start_manifest(env, "t1") is None
    assert env.tmux_sessions() == []
    assert env.run("list").returncode == 0
    env.records("t1", 1)


def test_launch_killed_after_taking_the_lease_leaves_a_stale_lease_that_resume_replaces(
    env: Env, agent: list[str]
) -> None:
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    crashed = env.spawn("resume", "t1", env={"CTASK_FAULT": "launch.lease_written"})
    crashed.wait(timeout=20)
    assert crashed.returncode == -signal.SIGKILL
    status = env.json("status", "t1")
    assert status["lease"]["state"] == "stale"
    assert status["lease"]["reason"].endswith("is not running")
    proc = env.run("resume", "t1")
    assert proc.returncode == 0, proc.stderr
    assert env.lease("t1") is None
    assert "stale_seen" in env.event_kinds("t1")
    env.records("t1", 2)
