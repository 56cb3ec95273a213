"""Reliability (issue 7): a second host sharing the filesystem, and `stop` racing the agent's natural end.

The second host is this machine under another hostname (``unshare --uts``): it
shares the filesystem and the tmux server, so its ``ctask`` launches the session
on the test's own tmux socket, while its lease says ``host: other-host``.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import time
import typing as t

import pytest

from tests.helpers import Env, retry_until, stop_outside_the_lock

HOST = socket.gethostname()
OTHER = "other-host"
UNSHARE = ["unshare", "--uts", "sh", "-c", f'hostname {OTHER} && exec "$@"', "sh"]


def _can_unshare() -> str | None:
    """None when ``unshare --uts`` can rename the host, else why not."""
    try:
        proc = subprocess.run(
            [*UNSHARE, "hostname"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare --uts is not usable: {exc}"
    if proc.returncode != 0 or proc.stdout.strip() != OTHER:
        return f"unshare --uts is not usable (needs root): exit {proc.returncode}: {proc.stderr.strip()}"
    if HOST == OTHER:
        return f"this machine is already called {OTHER}"
    return None


@pytest.fixture
def remote_owner(env: Env, agent: list[str]) -> t.Iterator[subprocess.Popen[str]]:
    """Task t1 launched and owned by a ``ctask new`` running on "other-host"; its agent waits for ``go``."""
    why = _can_unshare()
    if why is not None:
        pytest.skip(why)
    # On "other-host", with the same pid: unshare and sh exec.
    proc = env.spawn("new", "t1", "--agent", agent[0], "--", *agent[1:], "wait=go", prefix=UNSHARE)
    lease = env.wait_owned("t1", proc)
    assert lease["host"] == OTHER, lease
    assert env.tmux_alive("t1"), "the other host's session runs on the shared tmux socket"
    yield proc


def _heartbeat(env: Env) -> str:
    lease = env.lease("t1")
    assert lease is not None
    return str(lease["heartbeat_at"])


def test_a_live_owner_on_another_host_is_fresh_remote_and_not_adopted_without_yes(
    env: Env, remote_owner: subprocess.Popen[str]
) -> None:
    first = _heartbeat(env)
    retry_until(lambda: _heartbeat(env) != first, 5)  # the other host keeps beating its lease
    status = env.json("status", "t1")
    assert status["lease"]["state"] == "fresh_remote", status
    assert status["lease"]["host"] == OTHER
    assert status["lease"]["pid"] == remote_owner.pid
    assert status["tmux_alive"] is True
    lease = env.lease("t1")
    assert lease is not None

    for command in ("attach", "resume"):
        proc = env.run(command, "t1")
        assert proc.returncode == 1, (command, proc.stdout, proc.stderr)
        assert proc.stderr == (
            f"ctask: error: task t1 is held by {OTHER} pid {remote_owner.pid} with a fresh heartbeat; "
            "adoption declined (rerun with --yes to adopt it here)\n"
        ), command
    after = env.lease("t1")
    assert after is not None
    assert (after["session_id"], after["host"], after["pid"]) == (lease["session_id"], OTHER, remote_owner.pid)
    assert "adopted" not in env.event_kinds("t1")
    assert env.json("status", "t1")["lease"]["state"] == "fresh_remote"

    env.go("t1")  # the other host's owner records its own session
    code, _out, err = env.finish(remote_owner)
    assert code == 0, err
    summary = env.summary("t1")
    assert summary is not None
    assert summary["session_ownership"] == "owned"
    assert summary["end_reason"] == "agent_exited"
    env.records("t1", 1)
    assert env.lease("t1") is None
    assert env.tmux_sessions() == []


@pytest.mark.parametrize("command", ["attach", "resume"])
def test_yes_adopts_a_session_held_by_another_host(env: Env, remote_owner: subprocess.Popen[str], command: str) -> None:
    original = env.lease("t1")
    assert original is not None
    adopter = env.spawn(command, "t1", "--yes")
    lease = env.wait_owned("t1", adopter)
    assert lease["host"] == HOST
    assert lease["session_id"] != original["session_id"]
    assert env.json("status", "t1")["lease"]["state"] == "fresh_local"

    env.go("t1")
    code, _out, err = env.finish(adopter)
    assert code == 0, err
    summary = env.summary("t1")
    assert summary is not None
    assert summary["session_ownership"] == "adopted", summary
    assert summary["session_id"] == original["session_id"], "the session keeps the id minted at launch"
    assert summary["end_reason"] == "agent_exited"
    adopted = [e for e in env.events("t1") if e["event"] == "adopted"]
    assert len(adopted) == 1, env.events("t1")
    assert adopted[0]["previous"] == original["session_id"]
    assert adopted[0]["previous_state"] == "fresh_remote"
    remote_code, remote_out, remote_err = env.finish(remote_owner)
    # The dispossessed owner leaves quietly: it prints no summary and leaves the record to the adopter.
    assert (remote_code, remote_out) == (0, ""), (remote_code, remote_out, remote_err)
    assert "took the session over" in remote_err or "lost ownership" in remote_err, remote_err
    env.records("t1", 1)
    assert env.lease("t1") is None
    assert env.tmux_sessions() == []


@pytest.mark.parametrize("sig", [signal.SIGSTOP, signal.SIGKILL], ids=["sigstop", "sigkill"])
def test_a_remote_owner_that_stops_beating_goes_stale_after_stale_after(
    env: Env, remote_owner: subprocess.Popen[str], sig: signal.Signals
) -> None:
    if sig == signal.SIGSTOP:
        stop_outside_the_lock(env, remote_owner.pid)
    else:
        os.kill(remote_owner.pid, sig)
    stopped_at = time.monotonic()
    # A pid on another host cannot be checked: the lease stays fresh_remote until stale_after (3 s) passes.
    assert env.json("status", "t1")["lease"]["state"] == "fresh_remote"
    status = retry_until(lambda: (s := env.json("status", "t1"))["lease"]["state"] == "stale" and s, 15, interval=0.2)
    # heartbeat_at has whole seconds, so the age can read up to 1 s high: allow for it.
    assert time.monotonic() - stopped_at > 1.5, "stale long before stale_after passed"
    reason = status["lease"]["reason"]
    assert reason.startswith("last heartbeat ") and reason.endswith("s ago (stale after 3s)"), reason
    assert status["lease"]["host"] == OTHER
    assert status["tmux_alive"] is True
    assert env.summary("t1") is None, "a running session is not finalized by status"

    env.own_until_done("attach", "t1")  # stale: adopted without --yes
    summary = env.summary("t1")
    assert summary is not None
    assert (summary["session_ownership"], summary["end_reason"]) == ("adopted", "agent_exited")
    env.records("t1", 1)
    assert env.lease("t1") is None


def test_stop_racing_the_agents_own_exit_records_each_session_once(env: Env, agent: list[str]) -> None:
    """``ctask stop`` and the agent's own exit land together; the moment shifts from round to round.

    ``stop`` is started first and ``go`` written after a delay spread over the time
    ``stop`` needs to start up and reach the session, so that some rounds end by the
    agent's exit, some by the kill, and some in between.
    """
    rounds = 20
    reasons: list[str] = []
    for round_no in range(rounds):
        (env.tree("t1") / "go").unlink(missing_ok=True)
        if round_no == 0:
            owner = env.spawn_new("t1", agent, "wait=go")
        else:
            owner = env.spawn("resume", "t1")
            env.wait_owned("t1", owner)
        stop = env.spawn("stop", "t1", "--json")
        time.sleep((round_no % 10) * 0.05)
        env.go("t1")
        stop_code, stop_out, stop_err = env.finish(stop)
        code, _out, err = env.finish(owner)
        assert code == 0, (round_no, err)
        # stop either ended the session, or found it already ended (then there is nothing to stop).
        if stop_code == 1:
            assert stop_err == "ctask: error: task t1 has no running session; nothing to stop\n", (round_no, stop_err)
        else:
            assert stop_code == 0, (round_no, stop_out, stop_err)
            json.loads(stop_out)
        records = env.records("t1", round_no + 1)
        summary = env.summary("t1")
        assert summary is not None
        assert summary["session_id"] == records[-1]["session_id"], (round_no, summary, records[-1])
        assert summary["end_reason"] in ("agent_exited", "stopped"), (round_no, stop_code, stop_err, summary)
        assert records[-1]["end_reason"] == summary["end_reason"]
        if summary["end_reason"] == "agent_exited":
            assert summary.get("exit_status") == 0, (round_no, summary)
        assert env.lease("t1") is None, round_no
        assert env.tmux_sessions() == [], round_no
        leftover = env.task_dir("t1") / "stop-requested"
        assert not leftover.exists(), (round_no, "a stop request outlived its session", leftover.read_text())
        assert env.event_kinds("t1").count("finalized") == round_no + 1, (round_no, env.event_kinds("t1"))
        reasons.append(f"{summary['end_reason']}/stop-exit-{stop_code}")
    assert env.session_log_problems() == []
    print("outcomes:", {r: reasons.count(r) for r in sorted(set(reasons))})


def test_stop_after_the_agent_exited_leaves_the_dead_pane_to_its_live_owner(env: Env, agent: list[str]) -> None:
    """The race above made deterministic: the agent has exited, its owner has not yet seen it.

    ``stop`` must not kill the dead pane under a live owner: the owner reads the
    agent's exit status and last lines from it and records ``agent_exited``.
    """
    owner = env.spawn_new("t1", agent, "print=bye", "wait=go")
    stop_outside_the_lock(env, owner.pid)  # the owner is alive (fresh_local) but does not poll
    try:
        env.go("t1")
        retry_until(lambda: (pane := env.pane("t1")) is not None and pane["dead"], 5)
        stop = env.run("stop", "t1")
    finally:
        os.kill(owner.pid, signal.SIGCONT)
    assert (stop.returncode, stop.stderr) == (1, "ctask: error: task t1 has no running session; nothing to stop\n")
    code, _out, err = env.finish(owner)
    assert code == 0, err
    summary = env.summary("t1")
    assert summary is not None
    assert (summary["end_reason"], summary.get("exit_status")) == ("agent_exited", 0), summary
    assert "bye" in summary.get("last_lines", []), summary
    env.records("t1", 1)
    assert env.lease("t1") is None
    assert env.tmux_sessions() == []


def test_a_stop_that_loses_the_race_to_finalize_leaves_no_request_for_the_next_session(
    env: Env, agent: list[str]
) -> None:
    """``stop`` saw the session running, then the owner recorded the agent's own exit first.

    The late stop request must not outlive that session: the next session, which
    nobody stops, must end ``agent_exited``, not ``stopped``.
    """

    owner = env.spawn_new("t1", agent, "wait=go")
    with (env.task_dir("t1") / "write.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # stop sees the live pane, then waits here for the lock
        stop = env.spawn("stop", "t1")
        time.sleep(1.0)
        os.kill(stop.pid, signal.SIGSTOP)
        fcntl.flock(lock, fcntl.LOCK_UN)
    try:
        env.go("t1")
        code, out, err = env.finish(owner)
        assert code == 0, err
        assert "ended: agent_exited" in out, out
    finally:
        os.kill(stop.pid, signal.SIGCONT)
    env.finish(stop)
    marker = env.task_dir("t1") / "stop-requested"
    assert not marker.exists(), f"a stop request outlived its session: {marker.read_text()}"

    (env.tree("t1") / "go").unlink()
    env.own_until_done("resume", "t1")
    summary = env.summary("t1")
    assert summary is not None
    assert summary["end_reason"] == "agent_exited", "nobody stopped the second session"
    env.records("t1", 2)
