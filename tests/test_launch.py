"""Owned launch (SPEC 3.5): lease, baseline, tmux, launch verification, finalize; failures leave nothing behind."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import socket
import sys

import pytest
import yaml

from tests.helpers import BIN, Env

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _tasks(env: Env) -> list[str]:
    return env.task_names()


def test_owned_session_is_finalized_with_a_complete_summary(env: Env, agent: list[str]) -> None:
    proc = env.new("t1", agent, "print=hello-from-agent", "write=a.txt:hi", "sleep=0.5")
    assert proc.returncode == 0, proc.stderr
    summary = env.summary("t1")
    assert summary is not None
    host = socket.gethostname()
    assert re.fullmatch(rf"{re.escape(host)}-\d+-\d+", summary["session_id"])
    assert summary["host"] == host
    assert summary["agent"] == sys.executable
    assert summary["mode"] == "persistent"
    assert RFC3339.match(summary["started_at"]) and RFC3339.match(summary["ended_at"])
    assert summary["started_at"] <= summary["ended_at"]
    started, ended = (dt.datetime.fromisoformat(summary[k]) for k in ("started_at", "ended_at"))
    assert summary["duration_s"] == int((ended - started).total_seconds())
    assert summary["baseline"] == "original"
    assert summary["added"] == ["a.txt"] and summary["modified"] == [] and summary["deleted"] == []
    assert summary["counts"] == {"added": 1, "modified": 0, "deleted": 0}
    assert summary["bytes"] == {"added": 2, "modified": 0, "deleted": 0}
    assert summary["files_at_end"] == 1 and summary["bytes_at_end"] == 2
    assert summary["end_reason"] == "agent_exited"
    assert summary["detected_via"] == "polling"
    assert summary["session_ownership"] == "owned"
    assert "hello-from-agent" in summary["last_lines"]
    assert proc.stdout.startswith(f"session {summary['session_id']} of task t1 ended: agent_exited")
    assert "(owned, baseline original, via polling)" in proc.stdout
    assert "  + a.txt" in proc.stdout

    (record,) = env.records("t1", 1)
    assert record == {k: v for k, v in summary.items() if k not in ("added", "modified", "deleted")}
    assert env.lease("t1") is None
    assert not (env.task_dir("t1") / "manifest.start.json").exists()
    assert env.tmux_sessions() == [], "the dead pane kept for reading is killed after finalize"
    assert env.task_yaml("t1")["provisional"] is False
    kinds = env.event_kinds("t1")
    assert kinds.index("lease_taken") < kinds.index("lease_released") < kinds.index("finalized")
    leftovers = [p.name for p in env.task_dir("t1").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_summary_records_the_agents_exit_status_every_time(env: Env, agent: list[str]) -> None:
    # tmux marks a pane dead when its pty closes, and knows the status only once it has reaped the
    # agent: several sessions in a row show whether ctask waits for the status.
    for status in (7, 0, 9):
        path = env.task_dir("t1") / "task.yaml"
        if path.exists():
            meta = yaml.safe_load(path.read_text())
            meta["agent"]["args"] = [agent[1], "sleep=0.4", f"exit={status}"]
            path.write_text(yaml.safe_dump(meta))
            proc = env.run("resume", "t1")
        else:
            proc = env.new("t1", agent, "sleep=0.4", f"exit={status}")
        assert proc.returncode == 0, proc.stderr
        summary = env.summary("t1")
        assert summary is not None
        assert summary.get("exit_status") == status, summary
        assert f"ended: agent_exited, exit status {status} after" in proc.stdout
    env.records("t1", 3)


def test_agent_that_exits_at_once_shows_its_status_and_output_and_new_removes_the_workspace(
    env: Env, agent: list[str]
) -> None:
    for status in (3, 4, 5):
        proc = env.new("t1", agent, "print=error: ANTHROPIC_API_KEY is not set", f"exit={status}")
        assert proc.returncode == 1
        last = proc.stderr.splitlines()[-1]
        assert last == (
            f"ctask: error: agent '{sys.executable}' exited with status {status} right after it started "
            "(last output: error: ANTHROPIC_API_KEY is not set); check the agent's command and arguments"
        )
        assert "started task" not in proc.stderr
        assert proc.stdout == ""
        assert _tasks(env) == [], "new removes the provisional workspace it created"
        assert env.tmux_sessions() == []


def test_resume_whose_agent_exits_at_once_keeps_the_task_and_records_no_session(env: Env, agent: list[str]) -> None:
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    path = env.task_dir("t1") / "task.yaml"
    meta = yaml.safe_load(path.read_text())
    meta["agent"]["args"] = [agent[1], "print=bad flag --frobnicate", "exit=2"]
    path.write_text(yaml.safe_dump(meta))
    proc = env.run("resume", "t1")
    assert proc.returncode == 1
    assert "exited with status 2 right after it started (last output: bad flag --frobnicate)" in proc.stderr
    assert env.task_dir("t1").is_dir(), "an existing task is never removed by a failed launch"
    assert env.lease("t1") is None
    assert not (env.task_dir("t1") / "manifest.start.json").exists()
    assert env.tmux_sessions() == []
    assert env.event_kinds("t1")[-1] == "launch_failed"
    env.records("t1", 1)


def test_agent_not_on_path_fails_before_anything_is_written(env: Env) -> None:
    proc = env.run("new", "t1", "--agent", "no-such-agent-xyz")
    assert proc.returncode == 1
    assert proc.stderr == (
        "ctask: error: agent command 'no-such-agent-xyz' not found on PATH; "
        "install it, or pass --agent with a program that exists\n"
    )
    assert _tasks(env) == []
    assert env.tmux_sessions() == []


def test_agent_path_that_is_not_executable_is_not_found(env: Env) -> None:
    script = env.root / "agent.sh"
    script.write_text("#!/bin/sh\nsleep 1\n")
    proc = env.run("new", "t1", "--agent", str(script))
    assert proc.returncode == 1
    assert f"agent command '{script}' not found on PATH" in proc.stderr
    assert _tasks(env) == []


def test_resume_with_a_missing_agent_writes_no_lease(env: Env, agent: list[str]) -> None:
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    before = env.read_control("t1", "task.yaml")
    events = env.event_kinds("t1")
    proc = env.run("resume", "t1", "--agent", "no-such-agent-xyz")
    assert proc.returncode == 1
    assert "agent command 'no-such-agent-xyz' not found on PATH" in proc.stderr
    assert env.lease("t1") is None
    assert env.read_control("t1", "task.yaml") == before, "no updated_at bump for a launch that never happened"
    assert env.event_kinds("t1") == events
    env.records("t1", 1)


def test_missing_tmux_is_a_clear_error_and_new_leaves_no_workspace(env: Env, agent: list[str]) -> None:
    if shutil.which("tmux", path=str(BIN)):
        pytest.skip(f"tmux is installed in {BIN}; cannot make a PATH without it")
    no_tmux = {"PATH": str(BIN)}
    proc = env.run("new", "t1", "--agent", agent[0], "--", agent[1], "sleep=5", env=no_tmux)
    assert proc.returncode == 1
    assert proc.stderr == "ctask: error: tmux not found on PATH; install it (for example `apt-get install tmux`)\n"
    assert _tasks(env) == []

    assert env.new("t2", agent, "sleep=0.4").returncode == 0
    proc = env.run("resume", "t2", env=no_tmux)
    assert proc.returncode == 1
    assert "tmux not found on PATH" in proc.stderr
    assert env.lease("t2") is None
    proc = env.run("list", env=no_tmux)
    assert proc.returncode == 0, proc.stderr
    assert "t2" in proc.stdout


def test_tmux_refusing_to_start_the_session_leaves_no_workspace(env: Env, agent: list[str]) -> None:
    socket_is_a_dir = env.root / "sockdir"
    socket_is_a_dir.mkdir()
    proc = env.run(
        "new", "t1", "--agent", agent[0], "--", agent[1], "sleep=5", env={"CTASK_TMUX_SOCKET": str(socket_is_a_dir)}
    )
    assert proc.returncode == 1
    assert proc.stderr == (
        f"ctask: error: tmux could not start session ctask-t1: error connecting to {socket_is_a_dir} (Is a directory)\n"
    )
    assert _tasks(env) == []


def test_tmux_server_that_cannot_start_is_not_blamed_on_the_agent(env: Env, agent: list[str]) -> None:
    # tmux exits 0 here and its server dies at once: the socket's directory does not exist.
    bad_socket = env.root / "no-such-dir" / "tmux.sock"
    proc = env.run(
        "new", "t1", "--agent", agent[0], "--", agent[1], "sleep=5", env={"CTASK_TMUX_SOCKET": str(bad_socket)}
    )
    assert proc.returncode == 1
    assert _tasks(env) == []
    assert "exited at once" not in proc.stderr, "the agent never ran: tmux failed"
    assert "tmux" in proc.stderr.splitlines()[-1] and str(bad_socket) in proc.stderr, proc.stderr


def test_launch_refuses_a_task_leased_by_another_host(env: Env, agent: list[str]) -> None:
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    lease = env.write_lease("t1", host="build-box.example", pid=4242)
    before = env.read_control("t1", "lease.yaml")
    proc = env.run("resume", "t1")
    assert proc.returncode == 1
    assert proc.stderr == (
        f"ctask: error: task t1 is in use by build-box.example pid 4242 since {lease['started_at']}; "
        "attach with `ctask attach t1` or stop it with `ctask stop t1`\n"
    )
    assert env.read_control("t1", "lease.yaml") == before
    assert env.tmux_sessions() == []
    env.records("t1", 1)


def test_direct_mode_runs_the_agent_as_a_child_without_tmux(env: Env, agent: list[str]) -> None:
    env.write_config({"mode": "direct"})
    proc = env.new("t1", agent, "write=d.txt:direct", "sleep=0.3", "exit=4")
    assert proc.returncode == 0, proc.stderr
    summary = env.summary("t1")
    assert summary is not None
    assert summary["mode"] == "direct"
    assert summary["detected_via"] == "wait"
    assert summary["exit_status"] == 4
    assert summary["added"] == ["d.txt"]
    assert env.tmux_sessions() == []
    env.records("t1", 1)
