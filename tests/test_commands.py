"""The `ctask` commands (SPEC 3.9): output, --json, exit statuses 0/1/2 and one-line errors that say what to do."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time

import pytest

from tests.helpers import Env, retry_until, stop_outside_the_lock

HOST = socket.gethostname()


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["list", "--bogus"],
        ["status"],
        ["new"],
        ["rm"],
        ["attach"],
        ["stop", "--json"],
        ["log", "t1", "--limit", "many"],
        ["resume", "t1", "--", "extra-agent-arg"],
    ],
    ids=lambda argv: " ".join(argv) or "no-command",
)
def test_bad_usage_exits_2_with_usage_and_touches_nothing(env: Env, argv: list[str]) -> None:
    proc = env.run(*argv)
    assert proc.returncode == 2, proc.stderr
    assert "usage: ctask" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert not env.ctask_home.exists()


@pytest.mark.parametrize("command", ["resume", "open", "attach", "status", "stop", "diff", "log", "rm", "repair"])
def test_commands_on_a_missing_task_say_so_in_one_line(env: Env, command: str) -> None:
    proc = env.run(command, "nope")
    assert proc.returncode == 1
    assert proc.stderr.startswith("ctask: error: task 'nope' does not exist"), proc.stderr
    assert proc.stderr.count("\n") == 1
    assert proc.stdout == ""
    assert not (env.ctask_home / "tasks" / "nope").exists()


def test_last_without_any_task_says_how_to_create_one(env: Env) -> None:
    proc = env.run("last")
    assert proc.returncode == 1
    assert proc.stderr == "ctask: error: there are no tasks yet; create one with `ctask new NAME`\n"


def test_list_shows_every_task_with_lease_tmux_and_last_session(env: Env, agent: list[str]) -> None:
    proc = env.run("list")
    assert (proc.returncode, proc.stdout) == (0, "no tasks yet; create one with `ctask new NAME`\n")
    assert env.json("list") == []

    assert env.new("done", agent, "write=a.txt:1", "sleep=0.4").returncode == 0
    env.new_detached("running", agent, "wait=go")
    proc = env.run("list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["TASK", "LEASE", "TMUX", "ACTIVITY", "UPDATED", "LAST", "SESSION"]
    assert lines[1].split()[:4] == ["done", "missing", "-", "-"]
    assert lines[1].endswith("agent_exited +1 ~0 -0")
    assert lines[2].split()[:3] == ["running", "missing", "running"]
    assert lines[2].split()[3] in ("working", "idle"), "an agent without hooks: tmux's view"
    assert lines[2].endswith(" -")

    tasks = env.json("list")
    assert [t["name"] for t in tasks] == ["done", "running"]
    for task in tasks:
        assert {"name", "workspace", "lease", "tmux_alive", "updated_at", "last_summary"} <= task.keys()
    done, running = tasks
    assert done["workspace"] == str(env.tree("done"))
    assert done["lease"] == {"state": "missing"}
    assert done["tmux_alive"] is False
    assert done["last_summary"]["counts"] == {"added": 1, "modified": 0, "deleted": 0}
    assert "added" not in done["last_summary"]
    assert running["tmux_alive"] is True
    assert running["last_summary"] is None


def test_status_shows_one_task(env: Env, agent: list[str]) -> None:
    owner = env.spawn_new("t1", agent, "wait=go")
    proc = env.run("status", "t1")
    assert proc.returncode == 0, proc.stderr
    assert f"workspace: {env.tree('t1')}\n" in proc.stdout
    assert f"lease:     fresh_local (cli pid {owner.pid} on {HOST}, heartbeat " in proc.stdout
    assert "tmux:      ctask-t1 (running)\n" in proc.stdout
    assert re.search(r"^activity:  (working|idle) \d+s \(since \S+Z, from output\)$", proc.stdout, re.MULTILINE)
    assert "conversation:" not in proc.stdout, "an agent without hooks has none"
    status = env.json("status", "t1")
    assert status["name"] == "t1"
    assert status["lease"]["state"] == "fresh_local"
    assert status["lease"]["pid"] == owner.pid
    assert status["tmux_alive"] is True
    env.go("t1")
    assert env.finish(owner)[0] == 0
    status = env.json("status", "t1")
    assert status["lease"] == {"state": "missing"}
    assert status["last_summary"]["end_reason"] == "agent_exited"
    env.records("t1", 1)


def test_new_and_resume_json_print_the_summary(env: Env, agent: list[str]) -> None:
    proc = env.run("new", "t1", "--json", "--agent", agent[0], "--", agent[1], "write=a.txt:1", "sleep=0.4")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["added"] == ["a.txt"]
    assert summary == env.summary("t1")
    proc = env.run("resume", "t1", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["modified"] == ["a.txt"]
    env.records("t1", 2)


def test_stop_with_a_live_owner_lets_the_owner_finalize(env: Env, agent: list[str]) -> None:
    owner = env.spawn_new("t1", agent, "print=working hard", "wait=go")
    retry_until(lambda: "working hard" in env.tmux("capture-pane", "-p", "-t", "=ctask-t1:").stdout)
    proc = env.run("stop", "t1")
    assert proc.returncode == 0, proc.stderr
    assert "of task t1 ended: stopped" in proc.stdout
    assert "(owned, baseline original" in proc.stdout
    code, out, err = env.finish(owner)
    assert code == 0, err
    assert "ended: stopped" in out
    summary = env.summary("t1")
    assert summary is not None
    assert summary["end_reason"] == "stopped"
    assert summary["session_ownership"] == "owned"
    assert "working hard" in summary["last_lines"]
    assert env.tmux_sessions() == []
    assert "stop_requested" in env.event_kinds("t1")
    env.records("t1", 1)


@pytest.mark.parametrize("orphan", ["detached", "owner-killed"])
def test_stop_without_a_live_owner_finalizes_itself(env: Env, agent: list[str], orphan: str) -> None:
    if orphan == "detached":
        env.new_detached("t1", agent, "write=a.txt:1", "wait=go")
    else:
        owner = env.spawn_new("t1", agent, "write=a.txt:1", "wait=go")
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
    retry_until(lambda: (env.tree("t1") / "a.txt").exists())
    proc = env.run("stop", "t1", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["stopped"] is True and result["finalized"] is True
    assert result["summary"]["end_reason"] == "stopped"
    assert result["summary"]["session_ownership"] == "unowned"
    assert result["summary"]["added"] == ["a.txt"]
    assert env.lease("t1") is None
    assert env.tmux_sessions() == []
    env.records("t1", 1)


def test_stop_refuses_a_session_owned_by_another_host(env: Env, agent: list[str]) -> None:
    env.new_detached("t1", agent, "wait=go")
    env.write_lease("t1", host="build-box.example", pid=4242)
    proc = env.run("stop", "t1")
    assert (proc.returncode, proc.stderr) == (
        1,
        "ctask: error: task t1 is owned by build-box.example pid 4242; stop it on that host\n",
    )
    assert env.tmux_alive("t1")
    assert env.summary("t1") is None


def test_stop_and_attach_without_a_running_session_fail_with_what_to_do(env: Env, agent: list[str]) -> None:
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    proc = env.run("stop", "t1")
    assert (proc.returncode, proc.stderr) == (1, "ctask: error: task t1 has no running session; nothing to stop\n")
    proc = env.run("attach", "t1")
    assert (proc.returncode, proc.stderr) == (
        1,
        "ctask: error: task t1 has no running session; start one with `ctask resume t1`\n",
    )
    env.records("t1", 1)


def test_diff_before_any_session_says_how_to_start_one(env: Env, agent: list[str]) -> None:
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    (env.task_dir("t1") / "summary.yaml").unlink()
    proc = env.run("diff", "t1")
    assert (proc.returncode, proc.stderr) == (
        1,
        "ctask: error: task t1 has no session yet; start one with `ctask resume t1`\n",
    )


def test_log_lists_one_line_per_session(env: Env, agent: list[str]) -> None:
    assert env.new("t1", agent, "write=a.txt:1", "sleep=0.4").returncode == 0
    assert env.run("resume", "t1").returncode == 0
    records = env.records("t1", 2)
    proc = env.run("log", "t1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    assert records[0]["session_id"] in lines[0] and "+1 ~0 -0" in lines[0]
    assert records[1]["session_id"] in lines[1] and "+0 ~1 -0" in lines[1]
    assert env.json("log", "t1") == records
    proc = env.run("log", "t1", "--limit", "1", "--json")
    assert json.loads(proc.stdout) == records[1:]

    with (env.task_dir("t1") / "sessions.jsonl").open("a") as fh:
        fh.write("{not json\n")
    proc = env.run("log", "t1", "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == records
    assert "sessions.jsonl:3: unreadable line skipped" in proc.stderr

    env.bare_task("t2")
    proc = env.run("log", "t2")
    assert (proc.returncode, proc.stdout) == (0, "task t2 has no finished sessions yet\n")
    assert json.loads(env.run("log", "t2", "--json").stdout) == []


def test_rm_refuses_a_leased_task_unless_forced(env: Env, agent: list[str]) -> None:
    owner = env.spawn_new("t1", agent, "wait=go")
    proc = env.run("rm", "t1")
    assert proc.returncode == 1
    assert proc.stderr == f"ctask: error: task t1 is in use by {HOST} pid {owner.pid}; stop it first or pass --force\n"
    assert env.task_dir("t1").is_dir() and env.tmux_alive("t1")

    proc = env.run("rm", "t1", "--force")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"removed task t1 ({env.tree('t1')})\n"
    assert env.tmux_sessions() == []
    code, _out, err = env.finish(owner)
    assert "Traceback" not in err, err
    assert code == 0, err


def test_rm_force_waits_for_an_owner_recording_its_session(env: Env, agent: list[str]) -> None:
    """An owner recording its session's end holds the task's write lock: ``rm --force`` waits for it (the removal
    once went on under the owner, whose summary then had no directory to go to: a traceback), then removes."""
    import fcntl

    owner = env.spawn_new("t1", agent, "wait=go")
    with (env.task_dir("t1") / "write.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as the owner's finalize holds it
        rm = env.spawn("rm", "t1", "--force")
        time.sleep(1.5)
        assert rm.poll() is None and env.task_dir("t1").is_dir() and env.tmux_alive("t1")
    code, out, err = env.finish(rm)
    assert (code, out, err) == (0, f"removed task t1 ({env.tree('t1')})\n", "")
    assert not env.task_dir("t1").exists() and env.tmux_sessions() == []
    code, _out, err = env.finish(owner)
    assert "Traceback" not in err and code == 0, err
    assert not env.task_dir("t1").exists()  # the owner brought nothing back


def test_owner_of_a_removed_task_does_not_bring_its_workspace_back(env: Env, agent: list[str]) -> None:
    owner = env.spawn_new("t1", agent, "wait=go")
    stop_outside_the_lock(env, owner.pid)  # a busy owner: it notices the removal only after rm is done
    try:
        proc = env.run("rm", "t1", "--force")
        assert proc.returncode == 0, proc.stderr
        assert not env.task_dir("t1").exists()
    finally:
        os.kill(owner.pid, signal.SIGCONT)
    code, _out, err = env.finish(owner)
    assert "Traceback" not in err, err
    assert code == 0, err
    assert "recorded by another process" not in err, "nobody recorded it: the task was removed"
    assert not env.task_dir("t1").exists(), sorted(str(p) for p in env.task_dir("t1").rglob("*"))
    proc = env.run("list")
    assert (proc.returncode, proc.stdout) == (0, "no tasks yet; create one with `ctask new NAME`\n"), proc.stderr


def test_rm_refuses_a_running_unowned_session_unless_forced(env: Env, agent: list[str]) -> None:
    env.new_detached("t1", agent, "wait=go")
    proc = env.run("rm", "t1")
    assert proc.returncode == 1
    assert proc.stderr == (
        "ctask: error: task t1 has a running session; stop it with `ctask stop t1` or pass --force\n"
    )
    assert env.task_dir("t1").is_dir() and env.tmux_alive("t1")
    proc = env.run("rm", "t1", "--force", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"removed": "t1", "workspace": str(env.tree("t1")), "warnings": []}
    assert not env.task_dir("t1").exists()
    assert env.tmux_sessions() == []


def test_rm_removes_a_finished_task(env: Env, agent: list[str]) -> None:
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    assert env.new("t2", agent, "sleep=0.4").returncode == 0
    proc = env.run("rm", "t1")
    assert proc.returncode == 0, proc.stderr
    assert not env.task_dir("t1").exists()
    assert [t["name"] for t in env.json("list")] == ["t2"]


def test_open_runs_a_tracked_shell_in_the_workspace(env: Env, agent: list[str]) -> None:
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    shell = env.spawn("open", "t1", env={"SHELL": "/bin/sh"})
    lease = env.wait_owned("t1", shell)
    assert lease["agent"] == "shell"
    pane = env.tmux("display-message", "-p", "-t", "=ctask-t1:", "#{pane_current_path} #{pane_current_command}")
    assert pane.stdout.split() == [str(env.tree("t1")), "sh"]
    proc = env.run("stop", "t1")
    assert proc.returncode == 0, proc.stderr
    code, _out, err = env.finish(shell)
    assert code == 0, err
    summary = env.summary("t1")
    assert summary is not None
    assert summary["agent"] == "shell"
    assert summary["end_reason"] == "stopped"
    env.records("t1", 2)


def test_last_resumes_the_task_updated_most_recently(env: Env, agent: list[str]) -> None:
    assert env.new("newer", agent, "sleep=0.4").returncode == 0
    assert env.new("older", agent, "sleep=0.4").returncode == 0
    path = env.task_dir("older") / "task.yaml"
    path.write_text(path.read_text().replace("updated_at: ", "updated_at: '2020-01-01T00:00:00Z'\nx_was: ", 1))
    older = env.read_control("older", "task.yaml")
    proc = env.run("last", "--detach", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["task"] == "newer"
    assert result["session"]["session_id"] != env.records("newer", 1)[0]["session_id"]
    assert env.read_control("older", "task.yaml") == older


def test_hand_edited_task_yaml_with_unquoted_times_is_read_by_every_command(env: Env, agent: list[str]) -> None:
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    path = env.task_dir("t1") / "task.yaml"
    text = path.read_text()
    # What a person (or another YAML tool) writes: plain timestamps, which YAML reads as datetimes.
    text = "\n".join(
        line.replace("'", "") if line.startswith(("created_at:", "updated_at:")) else line for line in text.splitlines()
    )
    path.write_text(text + "\n")
    for argv in (["list"], ["list", "--json"], ["status", "t1"], ["last", "--detach"]):
        proc = env.run(*argv)
        assert proc.returncode == 0, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr
