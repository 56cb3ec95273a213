"""Error paths and the fresh_remote adoption question, in headless Neovim with the real server."""

from __future__ import annotations

import datetime as dt
import typing as t

import yaml

from tests.nvim.conftest import lease_part

if t.TYPE_CHECKING:
    from tests.helpers import Env
    from tests.nvim.conftest import Nvim


def test_server_errors_are_one_error_line_each(nvim: Nvim, env: Env, agent: list[str]) -> None:
    env.run("new", "idle", "--agent", agent[0], "--", agent[1], "sleep=0.5", check=True)
    run = nvim.run("errors.lua")
    assert run.returncode == 0, run.explain()
    res = run.result
    by_command = {c["command"]: c for c in res["cases"]}
    assert by_command["Ctask resume nope"]["kind"] == "TaskNotFound"
    assert "nope" in by_command["Ctask resume nope"]["message"]
    assert by_command["Ctask new bad/name"]["kind"] == "InvalidName"
    assert by_command["Ctask attach idle"]["kind"] == "NoSession"
    # In Neovim's terms: the server's "`ctask resume idle`" is a :Ctask command here.
    assert by_command["Ctask attach idle"]["message"].endswith("; start one with :Ctask resume idle")
    nope = by_command["Ctask resume nope"]["message"]
    assert nope == "ctask: task 'nope' does not exist; create it with :Ctask new nope"
    assert by_command["Ctask frobnicate"]["message"].startswith("ctask: unknown subcommand 'frobnicate'")
    # One line per failure, nothing else at ERROR level, every line "ctask: ..." and single-line.
    assert len(res["errors"]) == 5, res["errors"]
    assert all(m.startswith("ctask: ") and "\n" not in m for m in res["errors"])
    assert not [m for m in res["errors"] if "`ctask" in m or "--" in m]
    assert res["tasks_after_errors"] == 1
    assert not (env.ctask_home / "tasks" / "bad").exists()
    assert env.lease("idle") is None


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_statusline_follows_others_leases_and_fresh_remote_asks(nvim: Nvim, env: Env, agent: list[str]) -> None:
    env.write_config({"stale_after": 120})
    env.run("new", "r1", "--detach", "--agent", agent[0], "--", agent[1], "wait=done", check=True)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    lease = {
        "schema": 1,
        "session_id": f"elsewhere-4242-{int(old.timestamp())}",
        "host": "elsewhere",
        "pid": 4242,
        "agent": agent[0],
        "mode": "persistent",
        "tmux_session": "ctask-r1",
        "started_at": _rfc3339(old),
        "heartbeat_at": _rfc3339(old),
        "owner": "cli",
    }
    (env.task_dir("r1") / "lease.yaml").write_text(yaml.safe_dump(lease))
    run = nvim.run("adopt.lua")
    assert run.returncode == 0, run.explain()
    res = run.result
    assert lease_part(res["stale"]["statusline"]) == "! r1 stale"
    assert lease_part(res["busy"]["statusline"]).startswith("◐ r1 pid ")
    assert res["busy"]["ms"] <= 2000
    assert lease_part(res["remote"]["statusline"]) == "◆ r1 @elsewhere"
    assert res["remote"]["ms"] <= 2000
    asked = res["asked_first"]
    assert asked["items"] == ["Adopt", "Cancel"]
    assert "elsewhere" in asked["prompt"]
    assert len(res["declined_errors"]) == 1
    assert "adoption declined" in res["declined_errors"][0]
    assert lease_part(res["statusline_after_cancel"]) == "◆ r1 @elsewhere"
    assert res["asked_count"] == 2
    assert lease_part(res["statusline_adopted"]) == "● r1 owned"
    assert res["errors"] == 1
    assert res["lease_host_while_adopted"] != "host: elsewhere"
    # Neovim exited: its server released the lease and left the session running for the next owner.
    assert env.lease("r1") is None
    assert "ctask-r1" in env.tmux_sessions()
