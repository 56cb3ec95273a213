"""Rounds of eight adopters, CLI and server mixed, racing for one orphan (SPEC 3.7).

Each round: ``ctask resume t1`` owns a fresh session and is SIGKILLed (the tmux
session keeps running, its lease names a dead pid: an orphan).  Then four
``ctask attach t1`` processes and four ``ctask-ls`` servers (``ctask.attach``)
race to adopt it.  Exactly one becomes the owner; every CLI loser says who owns
the task and exits 0, every server loser answers ``action: "passive"`` naming
the winner.  The winner records the session when it ends: one log record per
session, never two.

The four servers live for all rounds (``autoAdopt`` off, so only the
``ctask.attach`` requests adopt).  Rounds rotate who starts first: the
servers; both (the servers are sent their requests the moment a CLI announces
it is adopting); the CLIs (the servers ask once a CLI holds the lease), so both
kinds of adopter win rounds and lose them.

``CTASK_RACE_ROUNDS`` sets the number of rounds: 20 by default (what CI runs);
a soak runs a thousand, without the per-test timeout, and with ``-s`` to see a
progress line every 50 rounds::

    CTASK_RACE_ROUNDS=1000 pytest tests/test_races.py -x -q -s --timeout=0

The descriptors open in the test process and in each server must not grow
from round to round (by more than ``FD_SLACK``): even one leaked per round
reaches a limit in a long soak (the killed owner's two pipes, never closed,
once took this process past 1024 near round 500).  That is checked every 50
rounds and at the end.  Whether both kinds of adopter won and
some loser raced is only required from ``2 * len(ORDERS)`` rounds on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import typing as t

from ctask_ls.server import protocol as p
from tests.helpers import Env, open_fds, retry_until
from tests.server.conftest import Session, Start, lsp

__all__ = ["lsp"]


def _rounds() -> int:
    value = os.environ.get("CTASK_RACE_ROUNDS", "20")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"CTASK_RACE_ROUNDS must be a whole number of rounds, 1 or more; got {value!r}")
    return int(value)


ROUNDS = _rounds()
CHECK_EVERY = 50
FD_SLACK = 7
"""Descriptors a server may hold at the end that it did not before the first round, without a leak: watching
the task's control directory and, while it owns the session, its tree (an inotify descriptor and a pipe pair
each), and a tmux command under way."""
CLI_ADOPTERS = 4
SERVER_ADOPTERS = 4
ADOPTING = "adopting orphaned session of task t1"
ORDERS = ("servers", "mixed", "clis")


@dataclasses.dataclass
class Round:
    clis: list[subprocess.Popen[str]]
    answers: list[dict[str, t.Any]]
    lease: dict[str, t.Any]


def _orphan(env: Env, agent: list[str], first: bool) -> int:
    """Task t1 runs a session whose owner was SIGKILLed; returns the dead owner's pid."""
    (env.tree("t1") / "go").unlink(missing_ok=True)
    if first:
        owner = env.spawn("new", "t1", "--agent", agent[0], "--", agent[1], "wait=go")
    else:
        owner = env.spawn("resume", "t1")
    env.wait_owned("t1", owner)
    os.kill(owner.pid, signal.SIGKILL)
    code, _out, _err = env.finish(owner)  # reaps it and closes its pipes
    assert code == -signal.SIGKILL, code
    assert env.tmux_alive("t1"), "the tmux session outlives its SIGKILLed owner"
    lease = env.lease("t1")
    assert lease is not None and lease["pid"] == owner.pid, "the dead owner's lease is left behind"
    return owner.pid


async def _race(env: Env, servers: list[Session], order: str) -> Round:
    """All eight adopters go for task t1; ``order`` says who starts first."""

    async def ask(s: Session) -> dict[str, t.Any]:
        return t.cast(dict[str, t.Any], await s.command(p.ATTACH, {"name": "t1"}))

    if order == "servers":
        pending = asyncio.gather(*(ask(s) for s in servers))
        clis = [env.spawn("attach", "t1") for _ in range(CLI_ADOPTERS)]
        answers = await pending
    else:
        clis = [env.spawn("attach", "t1") for _ in range(CLI_ADOPTERS)]
        cli_pids = {c.pid for c in clis}

        def ready() -> object:
            if order == "mixed":  # the servers set off the moment a CLI is on its way to the lock
                return any(ADOPTING in env.stderr_so_far(c) for c in clis)
            return _lease_held_by(env, cli_pids)  # "clis": the CLIs settle it first, the servers come second

        await asyncio.to_thread(retry_until, ready, 30, 0.005)
        answers = await asyncio.gather(*(ask(s) for s in servers))
    pids = {c.pid for c in clis} | {s.pid for s in servers}
    lease = await asyncio.to_thread(retry_until, lambda: _lease_held_by(env, pids), 30)
    return Round(clis, list(answers), lease)


def _lease_held_by(env: Env, pids: set[int]) -> dict[str, t.Any] | None:
    lease = env.lease("t1")
    return lease if lease is not None and lease.get("pid") in pids else None


class _Fds:
    """Open descriptors of this process and of each server, against what they had before the first round."""

    def __init__(self, servers: list[Session]) -> None:
        self.pids: dict[str, int | None] = {"pytest": None, **{f"server {s.pid}": s.pid for s in servers}}
        self.start = self.now()
        self.began = time.monotonic()

    async def settle(self) -> None:
        """Start from the fewest each process holds over a second (a server may be running a tmux command)."""
        for _ in range(10):
            await asyncio.sleep(0.1)
            for who, fds in self.now().items():
                if len(fds) < len(self.start[who]):
                    self.start[who] = fds

    def now(self) -> dict[str, dict[int, str]]:
        return {who: open_fds(pid) for who, pid in self.pids.items()}

    def grown(self, now: dict[str, dict[int, str]]) -> dict[str, list[str]]:
        """Who has more than ``FD_SLACK`` descriptors over its start, and what the new ones are."""
        return {
            who: [f"{fd} -> {what}" for fd, what in sorted(fds.items()) if self.start[who].get(fd) != what]
            for who, fds in now.items()
            if len(fds) - len(self.start[who]) > FD_SLACK
        }

    async def check(self, env: Env, rounds_done: int) -> None:
        # A server may hold a few more for a moment (a tmux command's pipes, a lock file):
        # only a count that stays up for 5 s is a leak.
        deadline = time.monotonic() + 5
        while (grown := self.grown(now := self.now())) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if ROUNDS > 20:
            counts = {who: f"{len(self.start[who])}->{len(fds)}" for who, fds in now.items()}
            print(
                f"[races] {rounds_done}/{ROUNDS} rounds in {time.monotonic() - self.began:.0f}s; "
                f"open fds (before round 1->now) {counts}; threads {threading.active_count()}; "
                f"pids reused by spawned ctask processes {env.reused_pids}",
                file=sys.stderr,
                flush=True,
            )
        assert not grown, f"descriptors leak after {rounds_done} rounds: {grown}"


async def test_rounds_of_eight_cli_and_server_adopters_leave_one_owner_and_one_record(
    env: Env, agent: list[str], lsp: Start
) -> None:
    servers = list(await asyncio.gather(*(lsp(init={"ctask": {"autoAdopt": False}}) for _ in range(SERVER_ADOPTERS))))
    server_pids = {s.pid for s in servers}
    wins = {"cli": 0, "server": 0}
    raced = 0  # losers that saw the orphan, set out to adopt it and lost under the lock
    fds = _Fds(servers)
    await fds.settle()
    for round_no in range(ROUNDS):
        if round_no and round_no % CHECK_EVERY == 0:
            await fds.check(env, round_no)
        dead = await asyncio.to_thread(_orphan, env, agent, round_no == 0)
        marks = [s.mark() for s in servers]
        logged = [len(s.logs()) for s in servers]
        r = await _race(env, servers, ORDERS[round_no % len(ORDERS)])
        winner_pid = r.lease["pid"]
        assert winner_pid != dead

        # Exactly one adopter owns the session.
        adopted = [a for a in r.answers if a["action"] == "adopted"]
        cli_owners = [c for c in r.clis if c.pid == winner_pid]
        assert len(adopted) + len(cli_owners) == 1, (round_no, r.answers, r.lease)

        # The server losers decline: passive, naming the winner; none claims the session.
        for s, answer in zip(servers, r.answers, strict=True):
            if s.pid == winner_pid:
                assert answer["action"] == "adopted" and r.lease["owner"] == "server"
                continue
            assert answer["action"] == "passive", (round_no, answer)
            assert answer["session"]["session_id"] is None
            assert answer["terminal"]["args"][-1] == "=ctask-t1", "a passive answer still says how to attach"
            state = answer["session"]["lease"]
            if state["state"] == "fresh_local":  # a server that asked before the orphan was even taken ...
                assert state["pid"] == winner_pid, (round_no, state)
            else:  # ... can only have seen the dead owner's lease
                assert (state["state"], state.get("pid")) == ("stale", dead), (round_no, state)
        for s, n in zip(servers, logged, strict=True):
            raced += s.pid != winner_pid and any(ADOPTING in m for m in s.logs()[n:])

        # The CLI losers attach passively (no terminal here), naming the winner, and exit 0.
        for cli in r.clis:
            if cli.pid == winner_pid:
                continue
            code, out, err = env.finish(cli)
            assert code == 0, (round_no, err)
            owner = "server" if winner_pid in server_pids else "cli"
            assert out.startswith(f"task t1 is owned by fresh_local ({owner} pid {winner_pid} on "), (out, err)
            assert out.rstrip().endswith("; not attaching: no terminal"), out
            assert "error" not in err and "Traceback" not in err, err
            raced += ADOPTING in err
        held = env.lease("t1")
        assert held is not None and held["session_id"] == r.lease["session_id"], "the losers left the lease alone"

        # The session ends; its owner records it once.
        env.go("t1")
        if cli_owners:
            wins["cli"] += 1
            code, out, err = env.finish(cli_owners[0])
            assert code == 0, err
            assert "(adopted, baseline original, via polling)" in out, out
        else:
            wins["server"] += 1
            (index,) = [i for i, s in enumerate(servers) if s.pid == winner_pid]
            ended = await servers[index].wait_for(p.SESSION_ENDED, name="t1", since=marks[index], timeout=20)
            assert ended.params["summary"]["session_ownership"] == "adopted"
        await asyncio.to_thread(
            retry_until,
            lambda: env.lease("t1") is None and not (env.task_dir("t1") / "manifest.start.json").exists(),
            20,
        )
        records = env.records("t1", round_no + 1)
        assert records[-1]["session_ownership"] == "adopted"
        assert records[-1]["baseline"] == "original", "the adopter kept the killed owner's baseline"
        assert env.event_kinds("t1").count("adopted") == round_no + 1, "one adoption per round, never two"

    await fds.check(env, ROUNDS)
    assert all(s.alive for s in servers)
    if 2 * len(ORDERS) <= ROUNDS:
        assert wins["cli"] > 0 and wins["server"] > 0, f"one kind of adopter never won: {wins}"
        assert raced > 0, "no loser set out to adopt: the rounds did not exercise a race"
