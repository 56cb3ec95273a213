"""The CLI SIGKILLed at every fault point of the session core; a new process recovers.

Each test sets ``CTASK_FAULT=<point>`` in the environment of one ``ctask``
process only (it kills itself there), then recovers with fresh processes
(``ctask list``, ``ctask attach``/``resume``) and checks the invariants of
the README's guarantees: one log record and a summary per started session,
no lease left once the session ended, no half-written metadata, the agent's
files as it wrote them, and a running session owned by exactly one live process.
"""

from __future__ import annotations

import signal

import pytest

from tests.faults.common import (
    AGENT_FILES,
    AGENT_STEPS,
    check_agent_files,
    check_ended,
    check_metadata,
    check_one_owner,
    start_manifest_sid,
)
from tests.helpers import Env, retry_until

STARTED_LAUNCH = ["launch.tmux_started", "launch.verified"]
UNSTARTED_LAUNCH = [
    "launch.lease_written",
    "launch.manifest_written",
]
ADOPT = ["adopt.lease_written", "adopt.baseline"]
FINALIZE = ["finalize.start", "finalize.summary_written", "finalize.logged", "finalize.before_manifest_removed"]


def _killed(env: Env, *args: str, point: str) -> None:
    """Run ``ctask ARGS`` with the fault armed; it must die by SIGKILL."""
    proc = env.spawn(*args, env={"CTASK_FAULT": point})
    code = proc.wait(timeout=30)
    _c, out, err = env.finish(proc)
    assert code == -signal.SIGKILL, f"ctask {args[0]} did not hit {point} (exit {code}): {err}{out}"


def _own_to_end(env: Env, name: str, *args: str) -> None:
    """Run ``ctask ARGS`` (a launching command) until it owns the session, release the agent, wait for the end."""
    proc = env.spawn(*args)
    env.wait_owned(name, proc)
    check_one_owner(env, name, proc.pid)
    env.go(name)
    code, _out, err = env.finish(proc)
    assert code == 0, err


def _adopt_and_finish(env: Env, name: str, sid: str | None) -> None:
    """A new ``ctask attach`` adopts the running session, owns it alone, and records it when it ends."""
    heir = env.spawn("attach", name)
    env.wait_owned(name, heir)
    check_one_owner(env, name, heir.pid)
    env.go(name)
    code, _out, err = env.finish(heir)
    assert code == 0, err
    (record,) = check_ended(env, name, 1)
    assert record["session_id"] == sid
    summary = env.summary(name)
    assert summary is not None
    assert summary["baseline"] == "original"
    assert summary["session_ownership"] == "adopted"
    assert summary["added"] == ["a.txt", "b.txt", "go"]
    check_agent_files(env, name, AGENT_FILES)


@pytest.mark.parametrize("point", STARTED_LAUNCH)
def test_cli_new_killed_after_tmux_started_is_adopted_by_attach(env: Env, agent: list[str], point: str) -> None:
    _killed(env, "new", "t1", "--agent", agent[0], "--", agent[1], *AGENT_STEPS, point=point)
    check_metadata(env, "t1")
    assert env.tmux_alive("t1")
    retry_until(lambda: (env.tree("t1") / "a.txt").exists())
    assert env.json("status", "t1")["lease"]["state"] == "stale"
    assert env.run("list").returncode == 0
    assert env.tmux_alive("t1"), "list must leave a running session alone"
    env.records("t1", 0)
    sid = start_manifest_sid(env, "t1")
    assert sid is not None
    _adopt_and_finish(env, "t1", sid)


@pytest.mark.parametrize("point", UNSTARTED_LAUNCH)
def test_cli_new_killed_before_tmux_started_records_nothing_and_resume_recovers(
    env: Env, agent: list[str], point: str
) -> None:
    _killed(env, "new", "t1", "--agent", agent[0], "--", agent[1], *AGENT_STEPS, point=point)
    check_metadata(env, "t1")
    assert env.tmux_sessions() == []
    crashed = env.lease("t1")
    assert crashed is not None
    proc = env.run("list")
    assert proc.returncode == 0, proc.stderr
    check_metadata(env, "t1")
    env.records("t1", 0)  # the agent never ran: no session to record
    assert env.summary("t1") is None
    _own_to_end(env, "t1", "resume", "t1")
    (record,) = check_ended(env, "t1", 1)
    assert record["session_id"] != crashed["session_id"]
    check_agent_files(env, "t1", AGENT_FILES)


@pytest.mark.parametrize("point", ADOPT)
def test_cli_attach_killed_while_adopting_is_adopted_by_the_next_attach(env: Env, agent: list[str], point: str) -> None:
    env.new_detached("t1", agent, *AGENT_STEPS)
    sid = start_manifest_sid(env, "t1")
    assert sid is not None
    _killed(env, "attach", "t1", point=point)
    check_metadata(env, "t1")
    assert env.tmux_alive("t1")
    assert env.json("status", "t1")["lease"]["state"] == "stale"
    assert env.run("list").returncode == 0
    env.records("t1", 0)
    retry_until(lambda: (env.tree("t1") / "a.txt").exists())
    _adopt_and_finish(env, "t1", sid)


@pytest.mark.parametrize("point", FINALIZE)
def test_cli_owner_killed_in_finalize_is_recorded_once_by_list(env: Env, agent: list[str], point: str) -> None:
    owner = env.spawn("new", "t1", "--agent", agent[0], "--", agent[1], *AGENT_STEPS, env={"CTASK_FAULT": point})
    env.wait_owned("t1", owner)
    sid = start_manifest_sid(env, "t1")
    env.go("t1")
    code, _out, err = env.finish(owner)
    assert code == -signal.SIGKILL, err
    check_metadata(env, "t1")
    proc = env.run("list")
    assert proc.returncode == 0, proc.stderr
    (record,) = check_ended(env, "t1", 1)
    assert record["session_id"] == sid
    summary = env.summary("t1")
    assert summary is not None and summary["added"] == ["a.txt", "b.txt", "go"]
    check_agent_files(env, "t1", AGENT_FILES)
    # the task is usable again: a second session runs and is recorded once
    (env.tree("t1") / "go").unlink()
    _own_to_end(env, "t1", "resume", "t1")
    records = check_ended(env, "t1", 2)
    assert records[0]["session_id"] == sid
    check_agent_files(env, "t1", AGENT_FILES)


def test_cli_new_killed_after_the_agent_started_does_not_leave_the_task_provisional(env: Env, agent: list[str]) -> None:
    _killed(env, "new", "t1", "--agent", agent[0], "--", agent[1], *AGENT_STEPS, point="launch.verified")
    _adopt_and_finish(env, "t1", start_manifest_sid(env, "t1"))
    assert env.task_yaml("t1")["provisional"] is False
