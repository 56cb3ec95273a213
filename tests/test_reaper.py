"""tmux records a session that ends while no ctask process runs (core/reaper.py, issue 15).

The agent's pane-died hook runs the reaper in the background: a session
launched detached, or whose owner was SIGKILLed, is recorded as soon as its
agent ends, with no ``ctask`` command run after it.
"""

from __future__ import annotations

import os
import signal
import typing as t

import pytest

from tests.helpers import Env, retry_until

pytestmark = pytest.mark.timeout(120)


def recorded_by_the_reaper(env: Env, name: str) -> dict[str, t.Any]:
    """The session record of ``name``, written by the reaper that tmux's pane-died hook ran.

    tmux 3.3 now and then misses an agent's SIGCHLD (more often on a loaded
    machine): its pane shows dead with no exit status, tmux runs no pane-died
    hook and so no reaper. Then the next ctask command that looks records the
    session instead, which is what a user would see; any other failure fails.
    """
    try:
        (record,) = retry_until(lambda: env.sessions(name), 15)
    except AssertionError:
        pane = env.pane(name)
        if not (pane is not None and pane["dead"] and pane["status"] is None):
            raise
        assert env.run("list").returncode == 0
        (record,) = retry_until(lambda: env.sessions(name), 15)
    return t.cast("dict[str, t.Any]", record)


def test_a_detached_session_is_recorded_when_its_agent_ends_with_no_ctask_running(env: Env, agent: list[str]) -> None:
    env.new_detached("t1", agent, "wait=go", "write=a.txt:done")
    assert env.sessions("t1") == []
    env.go("t1")
    record = recorded_by_the_reaper(env, "t1")  # nothing but tmux's hook runs meanwhile
    assert record["end_reason"] == "ended_unowned"
    summary = env.summary("t1")
    assert summary is not None and summary["added"] == ["a.txt", "go"]
    retry_until(lambda: not (env.task_dir("t1") / "manifest.start.json").exists(), 5)  # removed last


def test_a_killed_owners_session_is_recorded_when_its_agent_ends(env: Env, agent: list[str]) -> None:
    owner = env.spawn_new("t1", agent, "wait=go")
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    env.go("t1")
    record = recorded_by_the_reaper(env, "t1")
    assert record["end_reason"] == "ended_unowned"


def test_an_owner_alive_records_its_own_session_and_the_reaper_leaves_it(env: Env, agent: list[str]) -> None:
    owner = env.spawn_new("t1", agent, "wait=go")
    env.go("t1")
    code, _out, err = env.finish(owner)
    assert code == 0, err
    (record,) = env.records("t1", 1)
    assert record["end_reason"] == "agent_exited" and record["session_ownership"] == "owned"


def test_an_adopter_points_the_sessions_exit_hook_at_itself(env: Env, agent: list[str]) -> None:
    """Adoption re-points the session's ``pane-died`` hook to the adopter's channel (tmux 3.3 takes no bare
    ``=NAME`` target for ``set-hook``: the hook once stayed the dead owner's), and keeps the reaper in it."""
    env.new_detached("t1", agent, "wait=go")
    adopter = env.spawn("attach", "t1")
    env.wait_owned("t1", adopter)
    hooks = env.tmux("show-hooks", "-w", "-t", "=ctask-t1:").stdout  # pane-died is a window hook
    died = [line for line in hooks.splitlines() if line.startswith("pane-died")]
    assert died and f"ctask-exit-{adopter.pid}-" in died[0] and "ctask_ls.core.reaper" in died[0], hooks
    env.go("t1")
    code, _out, err = env.finish(adopter)
    assert code == 0, err
    (record,) = env.records("t1", 1)
    assert record["end_reason"] == "agent_exited" and record["session_ownership"] == "adopted"
