"""tmux records a session that ends while no ctask process runs (core/reaper.py, issue 15).

The agent's pane-died hook runs the reaper in the background: a session
launched detached, or whose owner was SIGKILLed, is recorded as soon as its
agent ends, with no ``ctask`` command run after it.  tmux 3.3 now and then
misses an agent's exit (under load, a third of the time on this machine):
the agent's exit watcher (``ctask_ls/core/execagent.py``) makes it see the
exit, so these tests allow for no miss.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.helpers import Env, processes, retry_until

pytestmark = pytest.mark.timeout(120)


def test_a_detached_session_is_recorded_when_its_agent_ends_with_no_ctask_running(env: Env, agent: list[str]) -> None:
    env.new_detached("t1", agent, "wait=go", "write=a.txt:done")
    assert env.sessions("t1") == []
    env.go("t1")
    (record,) = retry_until(lambda: env.sessions("t1"), 15)  # nothing but tmux's hook runs meanwhile
    assert record["end_reason"] == "ended_unowned"
    summary = env.summary("t1")
    assert summary is not None and summary["added"] == ["a.txt", "go"]
    retry_until(lambda: not (env.task_dir("t1") / "manifest.start.json").exists(), 5)  # removed last


def test_the_agents_exit_watcher_holds_nothing_of_the_pane_and_goes_with_the_agent(env: Env, agent: list[str]) -> None:
    env.new_detached("t1", agent, "wait=go")
    pane = env.pane("t1")
    assert pane is not None and not pane["dead"]
    agent_pid = pane["pid"]
    (watcher,) = [pid for pid, fields in processes() if int(fields[1]) == agent_pid]
    proc = Path(f"/proc/{watcher}")
    argv = (proc / "cmdline").read_bytes().split(b"\0")[:-1]
    tmux_pid = int(env.tmux("display-message", "-p", "#{pid}").stdout)
    assert argv[:2] == [b"sh", b"-c"] and argv[3:] == [b"ctask-exit-watch", str(tmux_pid).encode()]
    assert os.getsid(watcher) == watcher != os.getsid(agent_pid)  # a Ctrl-C or hangup of the pane misses it
    assert os.readlink(proc / "cwd") == "/"
    assert (proc / "environ").read_bytes() == b"PATH=/usr/bin:/bin\0"  # nothing of the agent's environment
    assert {os.readlink(fd) for fd in (proc / "fd").iterdir()} <= {"/dev/null"}  # nor the pane's terminal
    env.go("t1")
    (record,) = retry_until(lambda: env.sessions("t1"), 15)
    assert record["exit_status"] == 0
    retry_until(lambda: not proc.exists(), 10)


def test_a_killed_owners_session_is_recorded_when_its_agent_ends(env: Env, agent: list[str]) -> None:
    owner = env.spawn_new("t1", agent, "wait=go")
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    env.go("t1")
    (record,) = retry_until(lambda: env.sessions("t1"), 15)
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
