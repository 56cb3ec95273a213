"""The four lease states (SPEC 3.2) as `ctask status` shows them, and the lease an owner keeps fresh."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from tests.helpers import Env, retry_until


def _task(env: Env, agent: list[str], name: str = "t1") -> None:
    env.bare_task(name)


def test_lease_is_missing_when_no_session_is_owned(env: Env, agent: list[str]) -> None:
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    status = env.json("status", "t1")
    assert status["lease"] == {"state": "missing"}
    proc = env.run("status", "t1")
    assert "lease:     missing" in proc.stdout


def test_lease_with_an_old_heartbeat_is_stale_with_its_age(env: Env, agent: list[str]) -> None:
    _task(env, agent)
    env.write_lease("t1", heartbeat_age=60)  # this host, this (live) pid
    status = env.json("status", "t1")
    assert status["lease"]["state"] == "stale"
    assert re.fullmatch(r"last heartbeat 6\ds ago \(stale after 3s\)", status["lease"]["reason"])
    assert status["lease"]["pid"] == os.getpid()
    proc = env.run("status", "t1")
    assert "lease:     stale (last heartbeat" in proc.stdout


def test_lease_of_a_dead_local_pid_is_stale_at_once(env: Env, agent: list[str]) -> None:
    _task(env, agent)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    env.write_lease("t1", pid=dead.pid, heartbeat_age=0)
    status = env.json("status", "t1")
    assert status["lease"]["state"] == "stale"
    assert status["lease"]["reason"] == f"owner pid {dead.pid} on {socket.gethostname()} is not running"


def test_lease_of_a_zombie_owner_is_stale(env: Env, agent: list[str]) -> None:
    _task(env, agent)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        retry_until(lambda: _proc_state(zombie.pid) == "Z")
        env.write_lease("t1", pid=zombie.pid)
        status = env.json("status", "t1")
        assert status["lease"]["state"] == "stale"
        assert f"owner pid {zombie.pid}" in status["lease"]["reason"]
    finally:
        zombie.wait()


def _proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        stat = fh.read()
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3].decode()


def test_lease_of_a_live_local_owner_with_fresh_heartbeat_is_fresh_local(env: Env, agent: list[str]) -> None:
    _task(env, agent)
    env.write_lease("t1")
    status = env.json("status", "t1")
    assert status["lease"]["state"] == "fresh_local"
    assert "reason" not in status["lease"]
    assert status["lease"]["host"] == socket.gethostname()
    assert status["lease"]["pid"] == os.getpid()
    assert 0 <= status["lease"]["age_s"] < 3


def test_lease_of_another_host_with_fresh_heartbeat_is_fresh_remote(env: Env, agent: list[str]) -> None:
    _task(env, agent)
    # pid 1 exists here, and 999999 does not: neither matters for a remote host.
    for pid in (1, 999_999):
        env.write_lease("t1", host="build-box.example", pid=pid)
        status = env.json("status", "t1")
        assert status["lease"]["state"] == "fresh_remote", status
        assert status["lease"]["host"] == "build-box.example"


def test_lease_of_another_host_with_old_heartbeat_is_stale(env: Env, agent: list[str]) -> None:
    _task(env, agent)
    env.write_lease("t1", host="build-box.example", pid=4242, heartbeat_age=45)
    status = env.json("status", "t1")
    assert status["lease"]["state"] == "stale"
    assert status["lease"]["reason"].startswith("last heartbeat 4")


def test_unreadable_lease_is_stale_with_the_parse_error(env: Env, agent: list[str]) -> None:
    _task(env, agent)
    lease = env.task_dir("t1") / "lease.yaml"
    lease.write_text("pid: [1, 2\n")
    proc = env.run("status", "t1", "--json")
    assert proc.returncode == 1
    assert f"{lease} is corrupt" in proc.stderr
    status = json.loads(proc.stdout)
    assert status["lease"]["state"] == "stale"
    assert status["lease"]["reason"].startswith("lease file is unreadable: not valid YAML")
    assert lease.read_text() == "pid: [1, 2\n"


def test_owner_writes_a_complete_lease_and_keeps_its_heartbeat_fresh(env: Env, agent: list[str]) -> None:
    owner = env.spawn_new("t1", agent, "wait=go")
    lease = env.lease("t1")
    assert lease is not None
    host = socket.gethostname()
    assert lease["schema"] == 1
    assert lease["host"] == host
    assert lease["pid"] == owner.pid
    assert re.fullmatch(rf"{re.escape(host)}-{owner.pid}-\d+", lease["session_id"])
    assert lease["agent"] == sys.executable
    assert lease["mode"] == "persistent"
    assert lease["tmux_session"] == "ctask-t1"
    assert lease["owner"] == "cli"
    first_beat = lease["heartbeat_at"]
    retry_until(lambda: (env.lease("t1") or {}).get("heartbeat_at", first_beat) > first_beat, 5)
    assert env.json("status", "t1")["lease"]["state"] == "fresh_local"
    env.go("t1")
    code, _out, err = env.finish(owner)
    assert code == 0, err
    assert env.lease("t1") is None
    env.records("t1", 1)


def test_a_lease_reads_the_same_with_and_without_the_yaml_parser(tmp_path: Path) -> None:
    """``read_lease`` parses what ctask writes without YAML; it must agree with YAML, and hand anything else to it."""
    import datetime as dt

    import yaml

    from ctask_ls.core import lease as leases
    from ctask_ls.core.workspace import Workspace

    ws = Workspace(tmp_path, "t1")
    ws.root.mkdir(parents=True)
    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    for agent in ("claude", 'we"ird\\ \u00e9 : # [x]', "0123", "yes", "", "\U0001f600"):
        lease = leases.Lease("h-1-2", "höst", 4242, agent, "persistent", "ctask-t1", at, at, "cli")
        text = leases.lease_yaml(lease)
        if agent.isascii() or max(agent) <= "\uffff":  # YAML reads a JSON surrogate pair as two lone surrogates
            assert leases._plain_mapping(text) == yaml.safe_load(text)
        ws.lease_path.write_text(text)
        assert leases.read_lease(ws) == lease
    # Other forms (a hand edit, an older writer) go through YAML.
    for text in (
        "pid: 0x10\n",
        "pid: 12 # comment\n",
        "agent: plain\n",
        "pid: '1'\n",
        "pid: 1",
        "yes: 1\n",
        "pid: -1\n",
    ):
        assert leases._plain_mapping(text) is None, text
    ws.lease_path.write_text(yaml.safe_dump({**lease.to_mapping(), "agent": "plain words"}, sort_keys=False))
    assert leases.read_lease(ws).agent == "plain words"


def test_two_sessions_started_in_one_second_by_one_process_get_two_ids() -> None:
    """The second's record must never be taken for the first's (it would never be written)."""
    import datetime as dt

    from ctask_ls.core.lease import new_session_id

    now = dt.datetime(2026, 11, 29, 1, 2, 3, tzinfo=dt.UTC)
    first, second = new_session_id("h", 7, now), new_session_id("h", 7, now)
    assert first == f"h-7-{int(now.timestamp())}"
    assert second == f"{first}-2"
    assert new_session_id("h", 7, now + dt.timedelta(seconds=1)) == f"h-7-{int(now.timestamp()) + 1}"
