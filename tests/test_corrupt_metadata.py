"""Corrupt task.yaml / lease.yaml (SPEC 3.1): reported with path and parse error, never overwritten, repairable."""

from __future__ import annotations

import json

import pytest

from tests.helpers import Env

TASK_YAML_CORRUPTIONS = {
    "truncated": b"schema: 1\nname: t1\ncreated_at: '2026-01-0",
    "not-yaml": b"{{{{ :: [[\n\t- ]\n",
    "wrong-types": b"schema: 1\nname: [1, 2]\ncreated_at: yesterday\nagent: claude\n",
    "binary": b"\x00\x01\x02\xff\xfe\xfd garbage \x00",
    "empty": b"",
    "a-list": b"- name\n- t1\n",
    "python-tag": b"!!python/object/apply:os.system ['touch pwned']\n",
}

LEASE_CORRUPTIONS = {
    "truncated": b"schema: 1\nsession_id: h-1-2\nhost: h\npid: 12",
    "not-yaml": b"pid: [1, 2\n",
    "wrong-types": b"schema: 1\nsession_id: 5\nhost: h\npid: many\nheartbeat_at: soon\n",
    "binary": b"\xff\xfe\x00\x00lease",
}

REPAIR_HINT = "fix it by hand, or run `ctask repair t1` to move it aside and write a fresh one"


def _two_tasks(env: Env, agent: list[str]) -> None:
    """Task t1 (to corrupt, with some work in it) and task good."""
    env.bare_task("t1")
    env.bare_task("good")
    (env.tree("t1") / "a.txt").write_text("1")


@pytest.mark.parametrize("kind", list(TASK_YAML_CORRUPTIONS))
def test_corrupt_task_yaml_is_reported_never_overwritten_and_repairable(env: Env, agent: list[str], kind: str) -> None:
    _two_tasks(env, agent)
    path = env.task_dir("t1") / "task.yaml"
    corrupt = TASK_YAML_CORRUPTIONS[kind]
    path.write_bytes(corrupt)

    for argv in (["status", "t1"], ["resume", "t1"], ["diff", "t1"]):
        proc = env.run(*argv)
        assert proc.returncode == 1, (argv, proc.stderr)
        last = proc.stderr.splitlines()[-1]
        assert last.startswith(f"ctask: error: {path} is corrupt ("), last
        assert last.endswith(f"; {REPAIR_HINT}"), last
        assert "Traceback" not in proc.stderr
        assert path.read_bytes() == corrupt, f"{argv} changed the corrupt file"
    assert env.tmux_sessions() == []
    assert not list(env.root.rglob("pwned"))

    proc = env.run("list")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(line.split()[:2] == ["good", "missing"] for line in lines), proc.stdout
    assert any(line.startswith("t1") and "ERROR" in line for line in lines), proc.stdout
    assert f"ctask: error: {path} is corrupt" in proc.stderr
    listed = json.loads(env.run("list", "--json").stdout)
    assert [t["name"] for t in listed] == ["good", "t1"]
    assert "error" not in listed[0] and str(path) in listed[1]["error"]
    assert path.read_bytes() == corrupt

    proc = env.run("repair", "t1")
    assert proc.returncode == 0, proc.stderr
    (aside,) = [p for p in path.parent.iterdir() if p.name.startswith("task.yaml.corrupt-")]
    assert proc.stdout == f"moved aside: {aside}\n"
    assert aside.read_bytes() == corrupt, "the corrupt bytes are kept for the user"
    assert env.run("status", "t1").returncode == 0
    assert env.run("list").returncode == 0
    assert env.read("t1", "a.txt") == b"1", "repair touches only the corrupt file"


def test_every_command_refuses_a_task_with_corrupt_task_yaml(env: Env, agent: list[str]) -> None:
    _two_tasks(env, agent)
    path = env.task_dir("t1") / "task.yaml"
    path.write_bytes(b"name: [unclosed\n")
    for argv in (["attach", "t1"], ["log", "t1"], ["stop", "t1"], ["open", "t1"], ["status", "t1", "--json"]):
        proc = env.run(*argv)
        assert proc.returncode == 1, (argv, proc.stderr)
        assert f"ctask: error: {path} is corrupt (not valid YAML" in proc.stderr, (argv, proc.stderr)
        assert path.read_bytes() == b"name: [unclosed\n"
    proc = env.run("new", "t1", "--agent", agent[0])
    assert proc.returncode == 1
    assert path.read_bytes() == b"name: [unclosed\n"


@pytest.mark.parametrize("kind", list(LEASE_CORRUPTIONS))
def test_corrupt_lease_is_reported_never_overwritten_and_repairable(env: Env, agent: list[str], kind: str) -> None:
    _two_tasks(env, agent)
    lease = env.task_dir("t1") / "lease.yaml"
    corrupt = LEASE_CORRUPTIONS[kind]
    lease.write_bytes(corrupt)

    proc = env.run("status", "t1", "--json")
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"ctask: error: {lease} is corrupt ("), proc.stderr
    assert "run `ctask repair t1` to move it aside" in proc.stderr
    status = json.loads(proc.stdout)
    assert status["lease"]["state"] == "stale"
    assert status["lease"]["reason"].startswith("lease file is unreadable: ")

    proc = env.run("resume", "t1")
    assert proc.returncode == 1
    assert f"ctask: error: {lease} is corrupt" in proc.stderr
    assert lease.read_bytes() == corrupt
    assert env.tmux_sessions() == []

    proc = env.run("list")
    assert proc.returncode == 1
    assert any(line.split()[:2] == ["good", "missing"] for line in proc.stdout.splitlines()), proc.stdout

    proc = env.run("repair", "t1", "--json")
    assert proc.returncode == 0, proc.stderr
    (aside,) = [p for p in lease.parent.iterdir() if p.name.startswith("lease.yaml.corrupt-")]
    assert json.loads(proc.stdout) == {"task": "t1", "moved": [str(aside)]}
    assert aside.read_bytes() == corrupt
    assert env.json("status", "t1")["lease"] == {"state": "missing"}


def test_corrupt_lease_of_a_running_session_stops_adoption_and_keeps_the_session(env: Env, agent: list[str]) -> None:
    env.new_detached("t1", agent, "wait=go")
    lease = env.task_dir("t1") / "lease.yaml"
    lease.write_bytes(b"pid: [1, 2\n")
    proc = env.run("attach", "t1")
    assert proc.returncode == 1
    assert f"ctask: error: {lease} is corrupt (not valid YAML" in proc.stderr
    assert lease.read_bytes() == b"pid: [1, 2\n"
    assert env.tmux_alive("t1")
    assert env.run("list").returncode == 1
    assert env.tmux_alive("t1"), "list must not finalize a session whose lease it cannot read"
    assert env.summary("t1") is None

    assert env.run("repair", "t1").returncode == 0
    env.own_until_done("attach", "t1")
    env.records("t1", 1)


def test_corrupt_summary_is_reported_and_repair_moves_it_aside(env: Env, agent: list[str]) -> None:
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    summary = env.task_dir("t1") / "summary.yaml"
    summary.write_bytes(b"added: [a.txt\n")
    proc = env.run("status", "t1")
    assert proc.returncode == 1
    assert f"ctask: error: {summary} is corrupt (not valid YAML" in proc.stderr
    assert summary.read_bytes() == b"added: [a.txt\n"
    proc = env.run("repair", "t1")
    assert proc.returncode == 0, proc.stderr
    assert "summary.yaml.corrupt-" in proc.stdout
    assert env.run("status", "t1").returncode == 0
