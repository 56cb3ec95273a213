"""The server learns what happens to its tasks as it happens, not at its next poll (issue 15's event-driven core).

Every test here sets ``poll_interval: 30``: a change that reaches the client
within :data:`LATENCY` came from an event — the agent's output piped from
tmux (``pipe-pane``), the pipe's end when a session is killed, a watched
directory — since no poll ran in between.  The tests use a real tmux server,
the real server over stdio and the CLI as a real process.
"""

from __future__ import annotations

import asyncio
import sys
import time
import typing as t

from ctask_ls.server import protocol as p
from tests.server.conftest import new_args

if t.TYPE_CHECKING:
    from tests.helpers import Env
    from tests.server.conftest import Session, Start

LATENCY = 5.0
"""Well under the poll interval of 30 s, and generous for a loaded machine (bench/ measures the latencies)."""
SLOW_POLL = {"poll_interval": 30}


def state(params: dict[str, t.Any]) -> str | None:
    now = params.get("activity")
    return None if now is None else str(now["state"])


async def activity(s: Session, name: str, wanted: str, *, since: int, timeout: float = LATENCY) -> t.Any:
    return await s.wait_for(p.ACTIVITY, lambda n: state(n) == wanted, name=name, since=since, timeout=timeout)


async def write_again_then_end(s: Session, env: Env, mark: int) -> None:
    """Let t1's agent past ``wait=more`` (it writes again): ``working`` from its output, ``idle`` when due;
    then past ``wait=quit``: the session is recorded."""
    (env.tree("t1") / "more").write_text("")
    note = await activity(s, "t1", "working", since=mark)
    assert note.params["activity"]["source"] == "output"
    await activity(s, "t1", "idle", since=mark, timeout=2 + LATENCY)
    (env.tree("t1") / "quit").write_text("")
    ended = await s.wait_for(p.SESSION_ENDED, name="t1", since=mark, timeout=LATENCY)
    assert ended.params["summary"]["end_reason"] == "agent_exited"


async def test_output_after_a_quiet_spell_shows_working_at_once_and_idle_when_due(
    lsp: Start, env: Env, agent_py: str
) -> None:
    env.write_config({**SLOW_POLL, "idle_after": 2})
    s = await lsp(init={"autoAdopt": False})
    await s.command(p.NEW, new_args("t1", agent_py, "print=hello", "wait=more", "print=again", "wait=quit"))
    # idle_after seconds after its first output: the deadline runs a tick, the poll does not
    await activity(s, "t1", "idle", since=0, timeout=2 + LATENCY)
    assert env.tmux("display-message", "-p", "-t", "=ctask-t1:", "#{pane_pipe}").stdout.strip() == "1"

    mark = s.mark()
    await write_again_then_end(s, env, mark)


async def test_a_session_killed_by_hand_is_recorded_at_once(lsp: Start, env: Env, agent_py: str) -> None:
    """``tmux kill-session`` runs no ``pane-died`` hook; the output pipe's end tells the server."""
    env.write_config(SLOW_POLL)
    s = await lsp(init={"autoAdopt": False})
    for name in ("t0", "t1"):  # t0 keeps the tmux server running
        await s.command(p.NEW, new_args(name, agent_py, "wait=quit"))
    await s.lease("t1", lambda n: n["owned_here"] and n["tmux_alive"])
    await asyncio.sleep(0.5)  # its output is piped a moment after the launch returns
    mark = s.mark()
    assert env.tmux("kill-session", "-t", "=ctask-t1").returncode == 0
    ended = await s.wait_for(p.SESSION_ENDED, name="t1", since=mark, timeout=LATENCY)
    assert ended.params["summary"]["end_reason"] == "tmux_session_ended"
    assert env.tmux_alive("t0")
    (env.tree("t0") / "quit").write_text("")


async def test_a_task_made_in_a_terminal_and_its_tree_changing_show_at_once(
    lsp: Start, env: Env, agent_py: str
) -> None:
    env.write_config(SLOW_POLL)
    s = await lsp(init={"autoAdopt": False})
    await s.command(p.NEW, new_args("t1", agent_py, "wait=quit"))
    await s.lease("t1", lambda n: n["owned_here"])

    # another terminal makes a task: the directory of all tasks is watched
    at = time.monotonic()
    cli = ("new", "t2", "--detach", "--agent", sys.executable, "--", agent_py, "wait=q")
    made = await asyncio.to_thread(env.run, *cli)
    assert made.returncode == 0, made.stderr
    note = await s.lease("t2", lambda n: n["tmux_alive"], timeout=LATENCY)
    assert note.at - at < LATENCY + 5  # the CLI's own launch included

    # the owned session's agent's tree changes: its live diff follows (the tree is watched)
    mark = s.mark()
    (env.tree("t1") / "new.txt").write_text("x")
    diff = await s.wait_for(
        p.DIFF_NOTIFICATION, lambda n: "new.txt" in n["added"], name="t1", since=mark, timeout=LATENCY
    )
    assert diff.params["final"] is False
    (env.tree("t1") / "quit").write_text("")
    (env.tree("t2") / "q").write_text("")


async def test_an_exit_tmux_runs_no_hook_for_is_recorded_at_once(lsp: Start, env: Env, agent_py: str) -> None:
    """tmux (3.3) now and then reaps an agent without running its ``pane-died`` hook: the server watches the
    agent's process itself (a pidfd), so the exit is still seen at once, not at the next poll."""
    env.write_config(SLOW_POLL)
    s = await lsp(init={"autoAdopt": False})
    await s.command(p.NEW, new_args("t1", agent_py, "wait=quit", "write=a.txt:done"))
    await s.lease("t1", lambda n: n["owned_here"] and n["tmux_alive"])
    await asyncio.sleep(0.5)  # its process is watched a moment after the launch returns
    assert env.tmux("set-hook", "-u", "-t", "=ctask-t1:", "pane-died").returncode == 0  # as if tmux missed it
    mark = s.mark()
    (env.tree("t1") / "quit").write_text("")
    ended = await s.wait_for(p.SESSION_ENDED, name="t1", since=mark, timeout=LATENCY)
    assert ended.params["summary"]["end_reason"] == "agent_exited"
    assert ended.params["summary"]["added"] == ["a.txt", "quit"]


async def test_an_output_pipe_replaced_by_another_one_falls_back_to_the_poll(
    lsp: Start, env: Env, agent_py: str
) -> None:
    """Someone else's ``pipe-pane`` on the task's pane ends the server's pipe: the session is polled again
    (every ``poll_interval``, here 1 s), so its output still shows."""
    env.write_config({"poll_interval": 1, "idle_after": 2})
    s = await lsp(init={"autoAdopt": False})
    await s.command(p.NEW, new_args("t1", agent_py, "print=hello", "wait=more", "print=again", "wait=quit"))
    await activity(s, "t1", "idle", since=0, timeout=2 + LATENCY)
    replaced = env.tmux("pipe-pane", "-O", "-t", "=ctask-t1:", "cat > /dev/null")
    assert replaced.returncode == 0, replaced.stderr
    await asyncio.sleep(0.5)
    mark = s.mark()
    await write_again_then_end(s, env, mark)
