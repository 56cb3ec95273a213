"""The ``ctask.*`` commands end to end, with the capabilities of real editors."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

import ctask_ls
from ctask_ls.server import protocol as p
from tests.helpers import Env, retry_until
from tests.server.conftest import CLIENTS, Start, new_args


def attach_in_a_terminal(env: Env, terminal: dict[str, t.Any]) -> str:
    """Run the returned terminal spec the way an editor does, inside a terminal (an outer tmux)."""
    outer = str(env.sock_dir / "outer.sock")
    argv = ["env", *(f"{k}={v}" for k, v in terminal["env"].items()), terminal["command"], *terminal["args"]]
    subprocess.run(
        [
            "tmux",
            "-S",
            outer,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            terminal["cwd"],
            *argv,
        ],
        env={**env.vars},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
    )
    return outer


def attached_sessions(env: Env) -> list[str]:
    out = env.tmux("list-clients", "-F", "#{client_session}")
    return out.stdout.split() if out.returncode == 0 else []


@pytest.mark.parametrize("client", CLIENTS)
async def test_new_returns_a_terminal_spec_that_attaches_and_reports_live_and_final_diffs(
    lsp: Start, env: Env, agent_py: str, client: str
) -> None:
    s = await lsp(client=client)
    assert s.initialize_result is not None
    provider = s.initialize_result.capabilities.execute_command_provider
    assert provider is not None
    assert set(provider.commands) == set(p.COMMANDS)
    experimental = s.initialize_result.capabilities.experimental
    assert isinstance(experimental, dict)
    ours = experimental["ctask"]  # what a client checks and names its server by
    assert ours["protocol"] == p.PROTOCOL_VERSION and ours["version"] == ctask_ls.__version__
    assert ours["host"] == os.uname().nodename and isinstance(ours["pid"], int) and ours["pid"] > 0

    go = env.root / "go"
    result = await s.command(p.NEW, new_args("t1", agent_py, "write=a.txt:hi", f"wait={go}", "write=b.txt:more"))
    assert result["task"] == "t1"
    assert result["action"] == "launched"
    assert result["session"]["tmux_session"] == "ctask-t1"
    assert result["session"]["lease"]["state"] == "fresh_local"
    assert result["session"]["lease"]["owner"] == "server"
    terminal = result["terminal"]
    assert terminal["cwd"] == str(env.tree("t1"))
    assert env.socket in terminal["args"]
    assert "=ctask-t1" in terminal["args"]

    outer = await asyncio.to_thread(attach_in_a_terminal, env, terminal)
    try:
        await asyncio.to_thread(retry_until, lambda: attached_sessions(env) == ["ctask-t1"], 10)

        owned = await s.lease(
            "t1", lambda n: n["lease"]["state"] == "fresh_local" and n["owned_here"] and n["tmux_alive"]
        )
        assert owned.params["workspace"] == str(env.tree("t1"))
        live = await s.wait_for(p.DIFF_NOTIFICATION, lambda n: n["added"] == ["a.txt"], name="t1", timeout=8)
        assert live.params["final"] is False
        assert live.params["session_id"] == result["session"]["session_id"]

        go.write_text("")
        ended = await s.wait_for(p.SESSION_ENDED, name="t1", timeout=10)
        summary = ended.params["summary"]
        assert summary["added"] == ["a.txt", "b.txt"]
        assert summary["end_reason"] == "agent_exited"
        assert summary["session_ownership"] == "owned"
        assert summary["exit_status"] == 0
        final = [n for n in s.notes if n.method == p.DIFF_NOTIFICATION and n.params["final"]]
        assert len(final) == 1
        assert final[0].at <= ended.at
        assert final[0].params["added"] == ["a.txt", "b.txt"]
        assert final[0].params["counts"] == {"added": 2, "modified": 0, "deleted": 0}
        await s.lease("t1", lambda n: n["lease"]["state"] == "missing" and not n["tmux_alive"])
        # finalize removed the tmux session, which ends the editor's attached terminal too
        await asyncio.to_thread(retry_until, lambda: attached_sessions(env) == [], 10)
    finally:
        await asyncio.to_thread(subprocess.run, ["tmux", "-S", outer, "kill-server"], capture_output=True, check=False)
    assert env.lease("t1") is None
    assert env.tmux_sessions() == []


async def test_every_command_answers_with_the_cli_json_shapes(lsp: Start, env: Env, agent_py: str) -> None:
    s = await lsp()
    go = env.root / "go"
    await s.command(p.NEW, {**new_args("t1", agent_py, "write=a.txt:hi", f"wait={go}"), "description": "demo"})
    await s.wait_for(p.DIFF_NOTIFICATION, name="t1", timeout=8)  # the agent has written a.txt

    status = await s.command(p.STATUS, {"name": "t1"})
    cli_status = await asyncio.to_thread(env.json, "status", "t1")
    assert set(status) == set(cli_status)
    assert set(status["lease"]) == set(cli_status["lease"])
    assert status["lease"]["state"] == "fresh_local"
    assert status["tmux_alive"] is True
    assert status["description"] == "demo"
    assert status["provisional"] is False

    listed = await s.command(p.LIST, {})
    cli_list = await asyncio.to_thread(env.json, "list")
    assert [x["name"] for x in listed] == [x["name"] for x in cli_list] == ["t1"]
    assert set(listed[0]) == set(cli_list[0])
    for same in (await s.command(p.LIST), await s.command(p.LIST, None)):  # no argument is {}
        assert [x["name"] for x in same] == ["t1"]

    opened = await s.command(p.OPEN, {"name": "t1"})
    assert opened == {
        "task": "t1",
        "workspace": str(env.tree("t1")),
        "folder": str(env.tree("t1")),
        "uri": env.tree("t1").as_uri(),
    }

    assert (await s.command(p.ATTACH, {"name": "t1"}))["action"] == "owned"
    assert (await s.command(p.RESUME, {"name": "t1"}))["action"] == "owned"
    assert (await s.command(p.LAST, {}))["task"] == "t1"

    diff = await s.command(p.DIFF, {"name": "t1"})
    assert diff["live"] is True
    assert diff["added"] == ["a.txt"]

    stopped = await s.command(p.STOP, {"name": "t1"})
    assert stopped["stopped"] is True
    assert stopped["finalized"] is True
    assert stopped["summary"]["end_reason"] == "stopped"
    ended = await s.wait_for(p.SESSION_ENDED, name="t1")
    assert ended.params["summary"]["end_reason"] == "stopped"

    after = await s.command(p.DIFF, {"name": "t1"})
    assert after["live"] is False
    assert after["added"] == ["a.txt"]

    # resume launches a new session with the task's own agent and arguments
    resumed = await s.command(p.RESUME, {"name": "t1"})
    assert resumed["action"] == "launched"
    mark = s.mark()
    go.write_text("")
    second = await s.wait_for(p.SESSION_ENDED, name="t1", since=mark)
    assert second.params["summary"]["end_reason"] == "agent_exited"

    log = await s.command(p.LOG, {"name": "t1"})
    assert [r["end_reason"] for r in log] == ["stopped", "agent_exited"]
    assert "added" not in log[0]  # the log carries counts, not file lists
    assert await s.command(p.LOG, {"name": "t1", "limit": 1}) == log[-1:]

    # a damaged log line is skipped with a warning on window/logMessage
    with (env.task_dir("t1") / "sessions.jsonl").open("a") as fh:
        fh.write("{not json\n")
    assert len(await s.command(p.LOG, {"name": "t1"})) == 2
    await asyncio.to_thread(retry_until, lambda: any("unreadable line" in m for m in s.logs()), 5)

    removed = await s.command(p.REMOVE, {"name": "t1"})
    assert removed == {"removed": "t1", "workspace": str(env.tree("t1")), "warnings": []}
    assert not env.task_dir("t1").exists()
    gone = await s.lease("t1", lambda n: n.get("removed") is True)
    assert gone.params["lease"]["state"] == "missing"
    assert await s.command(p.LIST, {}) == []


async def test_errors_carry_the_spec_kind_and_lose_nothing(lsp: Start, env: Env, agent_py: str) -> None:
    s = await lsp(client="neovim")
    go = env.root / "go"
    await s.command(p.NEW, new_args("t1", agent_py, f"wait={go}"))

    exists = await s.error(p.NEW, new_args("t1", agent_py))
    assert exists.kind == "TaskExists"

    await s.command(p.STOP, {"name": "t1"})
    no_session = await s.error(p.ATTACH, {"name": "t1"})
    assert no_session.kind == "NoSession"
    assert "ctask.resume" in no_session.message
    assert (await s.error(p.STOP, {"name": "t1"})).kind == "NoSession"

    (env.task_dir("t2") / "work").mkdir(parents=True)
    (env.task_dir("t2") / "task.yaml").write_text("name: [unclosed\n")
    corrupt = await s.error(p.STATUS, {"name": "t2"})
    assert corrupt.kind == "CorruptMetadata"
    assert str(env.task_dir("t2") / "task.yaml") in corrupt.message
    assert (env.task_dir("t2") / "task.yaml").read_text() == "name: [unclosed\n"  # never overwritten
    listed = await s.command(p.LIST, {})
    assert {x["name"]: "error" in x for x in listed} == {"t1": False, "t2": True}

    failed = await s.error(p.NEW, new_args("t3", agent_py, "exit=3"))
    assert failed.kind == "LaunchFailed"
    assert not env.task_dir("t3").exists()  # the provisional workspace went again
    for err in (exists, no_session, corrupt, failed):
        assert "\n" not in err.message
        assert err.code == p.REQUEST_FAILED


async def test_bad_arguments_get_one_line_errors_and_the_server_stays_up(
    lsp: Start, env: Env, agent_py: str, tmp_path: Path
) -> None:
    # a task owned by a `ctask` CLI in another terminal, for "busy"
    go = env.root / "go"
    cli = env.spawn("new", "busy", "--agent", sys.executable, "--", agent_py, f"wait={go}")
    # a server that cannot find tmux on its PATH (sh is there: it is the default agent)
    nobin = tmp_path / "no-tmux-bin"
    nobin.mkdir()
    (nobin / "sh").symlink_to("/bin/sh")
    s = await lsp(extra_env={"PATH": str(nobin)})
    await s.lease(
        "busy", lambda n: n["lease"]["state"] == "fresh_local" and not n["owned_here"] and n["lease"]["owner"] == "cli"
    )

    cases: list[tuple[str, list[t.Any], str, int]] = [
        (p.NEW, [], "InvalidArgument", p.INVALID_PARAMS),  # missing name: no argument at all
        (p.NEW, [{}], "InvalidArgument", p.INVALID_PARAMS),  # missing name
        (p.STATUS, [{"name": None}], "InvalidArgument", p.INVALID_PARAMS),  # missing name (null)
        (p.NEW, ["t1"], "InvalidArgument", p.INVALID_PARAMS),  # not an object
        (p.NEW, [{"name": "t1"}, {"name": "t2"}], "InvalidArgument", p.INVALID_PARAMS),  # two arguments
        (p.NEW, [{"name": 5}], "InvalidName", p.INVALID_PARAMS),  # wrong type of name
        (p.NEW, [{"name": ["t1"]}], "InvalidName", p.INVALID_PARAMS),
        (p.NEW, [{"name": "../etc"}], "InvalidName", p.INVALID_PARAMS),  # invalid names
        (p.NEW, [{"name": "a b"}], "InvalidName", p.INVALID_PARAMS),
        (p.NEW, [{"name": ""}], "InvalidName", p.INVALID_PARAMS),
        (p.NEW, [{"name": "-x"}], "InvalidName", p.INVALID_PARAMS),
        (p.NEW, [{"name": "x" * 65}], "InvalidName", p.INVALID_PARAMS),
        (p.NEW, [{"name": "t\x01"}], "InvalidName", p.INVALID_PARAMS),
        (p.NEW, [{"name": "ok", "agent": 5}], "InvalidArgument", p.INVALID_PARAMS),  # wrong types
        (p.NEW, [{"name": "ok", "args": "a b"}], "InvalidArgument", p.INVALID_PARAMS),
        (p.NEW, [{"name": "ok", "description": {"x": 1}}], "InvalidArgument", p.INVALID_PARAMS),
        (p.LOG, [{"name": "busy", "limit": "3"}], "InvalidArgument", p.INVALID_PARAMS),
        (p.LOG, [{"name": "busy", "limit": -1}], "InvalidArgument", p.INVALID_PARAMS),
        (p.REMOVE, [{"name": "busy", "force": "yes"}], "InvalidArgument", p.INVALID_PARAMS),
        (p.NEW, [{"name": "ok", "nmae": "typo"}], "InvalidArgument", p.INVALID_PARAMS),  # unknown key
        (p.STATUS, [{"name": "nope"}], "TaskNotFound", p.REQUEST_FAILED),  # unknown task
        (p.RESUME, [{"name": "nope"}], "TaskNotFound", p.REQUEST_FAILED),
        (p.REMOVE, [{"name": "busy"}], "TaskBusy", p.REQUEST_FAILED),  # busy task
        (p.NEW, [{"name": "ok", "agent": "no-such-agent-xyz"}], "AgentNotFound", p.REQUEST_FAILED),
        (p.NEW, [{"name": "ok"}], "TmuxNotFound", p.REQUEST_FAILED),  # no tmux
    ]
    for command, arguments, kind, code in cases:
        err = await s.error(command, *arguments)
        assert (err.kind, err.code) == (kind, code), (command, arguments, err)
        assert err.message and "\n" not in err.message, err
        assert len(err.message) < 300, err
    unknown = await s.error("ctask.nope", {})
    assert "ctask.nope" in unknown.message

    assert "AgentNotFound" in {c[2] for c in cases}
    assert "install it" in (await s.error(p.NEW, {"name": "ok", "agent": "no-such-agent-xyz"})).message
    assert "tmux" in (await s.error(p.NEW, {"name": "ok"})).message

    # still up and answering; nothing was created or touched
    listed = await s.command(p.LIST, {})
    assert [x["name"] for x in listed] == ["busy"]
    assert listed[0]["lease"]["state"] == "fresh_local"
    assert (await s.command(p.STATUS, {"name": "busy"}))["name"] == "busy"
    assert not env.task_dir("ok").exists()
    lease = env.lease("busy")
    assert lease is not None
    assert lease["pid"] == cli.pid
    go.write_text("")
    await s.lease("busy", lambda n: n["lease"]["state"] == "missing")
