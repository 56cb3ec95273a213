"""The server (``python -m ctask_ls``) SIGKILLed at every fault point it reaches; a new server recovers.

``CTASK_FAULT`` is set in the doomed server's environment only: launch points
via ``ctask.new``, adoption points via ``autoAdopt`` of a detached session,
finalize points when the agent ends.  A second server (and, for checks, the
CLI) recovers; the invariants are those of ``test_cli_faults``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import typing as t
from pathlib import Path

import pytest

from ctask_ls.server import protocol as p
from tests.faults.common import (
    AGENT_FILES,
    AGENT_STEPS,
    check_agent_files,
    check_ended,
    check_metadata,
    check_one_owner,
    start_manifest_sid,
)
from tests.faults.test_cli_faults import ADOPT, FINALIZE, STARTED_LAUNCH
from tests.gitrepo import branches, make_repo, worktrees
from tests.helpers import Env, retry_until
from tests.server.conftest import Session, Start, new_args


async def _died(s: Session, pending: t.Awaitable[t.Any] | None = None) -> None:
    """Wait for the doomed server to SIGKILL itself (dropping the request it was serving)."""
    task = asyncio.ensure_future(pending) if pending is not None else None
    server = s.client._server
    assert server is not None
    try:
        await asyncio.wait_for(server.wait(), 20)
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    assert server.returncode == -signal.SIGKILL, f"server exited with {server.returncode}"


async def _owned_by(s: Session, env: Env, name: str) -> None:
    await s.lease(name, lambda x: bool(x["owned_here"]) and x["lease"]["state"] == "fresh_local", timeout=10)
    await asyncio.to_thread(check_one_owner, env, name, s.pid)


async def _end(s: Session, env: Env, name: str) -> dict[str, t.Any]:
    """Release the agent; the owning server records the session once."""
    mark = s.mark()
    env.go(name)
    ended = await s.wait_for(p.SESSION_ENDED, name=name, since=mark, timeout=15)
    await asyncio.to_thread(retry_until, lambda: env.lease(name) is None and start_manifest_sid(env, name) is None)
    return t.cast(dict[str, t.Any], ended.params["summary"])


@pytest.mark.parametrize("point", STARTED_LAUNCH)
async def test_server_killed_in_launch_after_tmux_started_is_adopted_by_the_next_server(
    lsp: Start, env: Env, agent_py: str, point: str
) -> None:
    doomed = await lsp(extra_env={"CTASK_FAULT": point})
    await _died(doomed, doomed.command(p.NEW, new_args("t1", agent_py, *AGENT_STEPS)))
    check_metadata(env, "t1")
    assert env.tmux_alive("t1")
    sid = start_manifest_sid(env, "t1")
    assert sid is not None
    env.records("t1", 0)

    heir = await lsp()
    await _owned_by(heir, env, "t1")
    summary = await _end(heir, env, "t1")
    assert summary["session_id"] == sid
    assert summary["baseline"] == "original"
    assert summary["session_ownership"] == "adopted"
    assert summary["added"] == ["a.txt", "b.txt", "go"]
    check_ended(env, "t1", 1)
    check_agent_files(env, "t1", AGENT_FILES)


@pytest.mark.parametrize(
    "point",
    [
        "launch.lease_written",
        "launch.manifest_written",
    ],
)
async def test_server_killed_in_launch_before_tmux_started_records_nothing_and_resume_recovers(
    lsp: Start, env: Env, agent_py: str, point: str
) -> None:
    doomed = await lsp(extra_env={"CTASK_FAULT": point})
    await _died(doomed, doomed.command(p.NEW, new_args("t1", agent_py, *AGENT_STEPS)))
    check_metadata(env, "t1")
    assert env.tmux_sessions() == []
    crashed = env.lease("t1")
    assert crashed is not None

    heir = await lsp()
    await heir.lease("t1", lambda _x: True)
    resumed = await heir.command(p.RESUME, {"name": "t1"})
    assert resumed["action"] == "launched"
    await _owned_by(heir, env, "t1")
    summary = await _end(heir, env, "t1")
    assert summary["session_id"] != crashed["session_id"]
    (record,) = check_ended(env, "t1", 1)  # the crashed launch never ran an agent: nothing to record
    assert record["session_id"] == summary["session_id"]
    check_agent_files(env, "t1", AGENT_FILES)


@pytest.mark.parametrize("point", ADOPT)
async def test_server_killed_while_auto_adopting_is_replaced_by_the_next_server(
    lsp: Start, env: Env, agent: list[str], point: str
) -> None:
    env.new_detached("t1", agent, *AGENT_STEPS)
    sid = start_manifest_sid(env, "t1")
    assert sid is not None
    doomed = await lsp(extra_env={"CTASK_FAULT": point}, init={"autoAdopt": True})
    await _died(doomed)
    check_metadata(env, "t1")
    assert env.tmux_alive("t1")
    env.records("t1", 0)

    heir = await lsp(init={"autoAdopt": True})
    await _owned_by(heir, env, "t1")
    summary = await _end(heir, env, "t1")
    assert summary["session_id"] == sid
    assert summary["baseline"] == "original"
    assert summary["session_ownership"] == "adopted"
    assert summary["added"] == ["a.txt", "b.txt", "go"]
    check_ended(env, "t1", 1)
    check_agent_files(env, "t1", AGENT_FILES)


@pytest.mark.parametrize("point", FINALIZE)
async def test_server_killed_in_finalize_is_completed_by_the_next_server(
    lsp: Start, env: Env, agent_py: str, point: str
) -> None:
    doomed = await lsp(extra_env={"CTASK_FAULT": point})
    launched = await doomed.command(p.NEW, new_args("t1", agent_py, *AGENT_STEPS))
    sid = launched["session"]["session_id"]
    await doomed.lease("t1", lambda x: bool(x["owned_here"]) and bool(x["tmux_alive"]))
    env.go("t1")
    await _died(doomed)
    check_metadata(env, "t1")

    heir = await lsp()
    await asyncio.to_thread(retry_until, lambda: len(env.sessions("t1")) == 1 and start_manifest_sid(env, "t1") is None)
    (record,) = check_ended(env, "t1", 1)
    assert record["session_id"] == sid
    summary = env.summary("t1")
    assert summary is not None and summary["added"] == ["a.txt", "b.txt", "go"]
    check_agent_files(env, "t1", AGENT_FILES)
    assert heir.alive


@pytest.mark.parametrize("point", ["new.before_worktree", "new.worktree_added"])
async def test_server_killed_in_a_repo_new_leaves_a_provisional_task_the_next_server_removes(
    lsp: Start, env: Env, agent_py: str, tmp_path: Path, point: str
) -> None:
    repo = make_repo(env.vars, tmp_path / "project")
    doomed = await lsp(extra_env={"CTASK_FAULT": point})
    await _died(doomed, doomed.command(p.NEW, {**new_args("t1", agent_py, *AGENT_STEPS), "repo": str(repo)}))
    check_metadata(env, "t1")
    assert env.task_yaml("t1")["provisional"] is True, "a task that never ran says so"
    assert env.lease("t1") is None and not env.tmux_alive("t1")
    env.records("t1", 0)

    heir = await lsp()
    listed = {task["name"]: task for task in await heir.command(p.LIST, {})}
    assert listed["t1"]["provisional"] is True
    assert listed["t1"]["repo"]["branch"] == "ctask/t1"
    removed = await heir.command(p.REMOVE, {"name": "t1"})
    assert removed["branch"] == "ctask/t1"
    assert not env.task_dir("t1").exists()
    # Whether or not git had made them, neither the worktree nor the untouched branch is left.
    assert worktrees(env.vars, repo) == [str(repo)]
    assert branches(env.vars, repo) == ["main"]
