"""Of any number of concurrent adopters on one host exactly one wins; the rest attach passively (SPEC 3.7)."""

from __future__ import annotations

import os
import signal
import subprocess

from tests.helpers import Env, retry_until

ADOPTERS = 8


def _orphan(env: Env, agent: list[str], round_no: int) -> None:
    """Leave task t1 with a running session and no live owner, a different way each round."""
    flag = env.tree("t1") / "go"
    flag.unlink(missing_ok=True)
    kind = round_no % 3
    if kind == 0:  # launched detached: no lease at all
        if env.task_dir("t1").exists():
            proc = env.run("resume", "t1", "--detach")
        else:
            proc = env.new("t1", agent, "wait=go", extra=("--detach",))
        assert proc.returncode == 0, proc.stderr
    else:
        owner = env.spawn("resume", "t1")
        env.wait_owned("t1", owner)
        os.kill(owner.pid, signal.SIGKILL)  # kind 1: a dead local owner
        owner.wait()
        if kind == 2:  # kind 2: a live pid with a heartbeat far too old
            lease = env.lease("t1")
            assert lease is not None
            env.write_lease("t1", heartbeat_age=600, session_id=lease["session_id"])
    assert env.tmux_alive("t1")


def _race(env: Env) -> tuple[subprocess.Popen[str], list[subprocess.Popen[str]]]:
    # Each adopter waits a moment between seeing the orphan and taking the lock, so that those
    # starting meanwhile see it too: the race under the lock is exercised, not left to scheduling.
    procs = [env.spawn("attach", "t1", env={"CTASK_PAUSE": "adopt.before_lock:0.3"}) for _ in range(ADOPTERS)]
    lease = retry_until(lambda: _owner_in(env, procs), 30)
    winner = next(p for p in procs if p.pid == lease["pid"])
    return winner, [p for p in procs if p is not winner]


def _owner_in(env: Env, procs: list[subprocess.Popen[str]]) -> dict[str, object] | None:
    lease = env.lease("t1")
    if lease is None or lease.get("pid") not in {p.pid for p in procs}:
        return None
    return lease


def test_exactly_one_of_eight_concurrent_adopters_becomes_the_owner(env: Env, agent: list[str]) -> None:
    rounds = 4
    raced = 0  # losers that saw an orphan and lost the race under the lock
    for round_no in range(rounds):
        _orphan(env, agent, round_no)
        winner, losers = _race(env)
        for loser in losers:
            code, out, err = env.finish(loser)
            assert code == 0, err
            assert out.startswith("task t1 is owned by fresh_local (cli pid "), (out, err)
            assert f"pid {winner.pid} on" in out
            assert "not attaching: no terminal" in out
            assert "lost ownership" not in err
            raced += "adopting orphaned session" in err
        lease = env.lease("t1")
        assert lease is not None and lease["pid"] == winner.pid
        assert winner.poll() is None, "the winner owns the session until it ends"

        env.go("t1")
        code, out, err = env.finish(winner)
        assert code == 0, err
        assert "(adopted, baseline original, via polling)" in out
        records = env.records("t1", round_no + 1)
        assert records[-1]["session_ownership"] == "adopted"

    adopted = [e for e in env.events("t1") if e["event"] == "adopted"]
    assert len(adopted) == rounds, "one adoption per round, never two"
    assert raced > 0, "no loser saw the orphan: the rounds did not exercise a race"


def test_concurrent_reconcilers_record_an_ended_session_once(env: Env, agent: list[str]) -> None:
    env.new_detached("t1", agent, "wait=go")
    env.go("t1")
    retry_until(lambda: (env.pane("t1") or {}).get("dead"))
    procs = [env.spawn(*(("list",) if i % 2 else ("status", "t1"))) for i in range(6)]
    for proc in procs:
        code, _out, err = env.finish(proc)
        assert code == 0, err
    (record,) = env.records("t1", 1)
    assert (record["end_reason"], record["detected_via"]) == ("ended_unowned", "reconcile")
    assert env.event_kinds("t1").count("finalized") == 1
    assert env.tmux_sessions() == []


def test_concurrent_new_of_one_name_creates_one_task(env: Env, agent: list[str]) -> None:
    procs = [env.spawn("new", "t1", "--agent", agent[0], "--", agent[1], "wait=go") for _ in range(4)]
    lease = retry_until(lambda: _owner_in(env, procs), 30)
    winner = next(p for p in procs if p.pid == lease["pid"])
    for loser in (p for p in procs if p is not winner):
        code, out, err = env.finish(loser)
        assert code == 1, (out, err)
        assert err.splitlines()[-1] == (
            "ctask: error: task 't1' already exists; resume it with `ctask resume t1` or pick another name"
        )
    env.wait_owned("t1", winner)
    assert env.task_yaml("t1")["provisional"] is False
    env.go("t1")
    code, _out, err = env.finish(winner)
    assert code == 0, err
    env.records("t1", 1)
