"""A server-owned session's end, seen from an editor terminal attached to it (SPEC 3.5 step 6).

The server learns of the agent's exit from tmux (the session's ``pane-died``
hook), not from its next poll: with a poll interval of a minute, the session
is still recorded, and the attached terminal returns, at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from ctask_ls.server import protocol as p
from tests.helpers import Env
from tests.server.conftest import Start, new_args
from tests.test_session_end import Terminal


async def test_an_editor_terminal_returns_and_the_session_is_recorded_when_the_agent_exits(
    lsp: Start, env: Env, agent_py: str
) -> None:
    env.write_config({"poll_interval": 60})
    s = await lsp()
    result = await s.command(p.NEW, new_args("t1", agent_py, "wait=go", "write=end.txt:done"))
    spec = result["terminal"]
    term = Terminal([spec["command"], *spec["args"]], {**env.vars, **spec["env"]}, env.root)
    try:
        # Attached (tmux lists the client), then the agent is told to finish.
        deadline = time.monotonic() + 15
        while not env.tmux("list-clients", "-F", "#{client_tty}").stdout.strip():
            assert time.monotonic() < deadline, "the editor terminal never attached"
            await asyncio.sleep(0.05)
        mark = s.mark()
        (env.tree("t1") / "go").write_text("")
        ended = await s.wait_for(p.SESSION_ENDED, name="t1", since=mark, timeout=20)
        assert term.wait(20) is not None, "the editor's terminal was left on a dead pane"
    finally:
        term.close()
    summary = ended.params["summary"]
    assert summary["end_reason"] == "agent_exited" and summary["added"] == ["end.txt", "go"]
    end_file = (env.tree("t1") / "end.txt").stat().st_mtime
    ended_at = dt.datetime.fromisoformat(summary["ended_at"]).timestamp()
    assert abs(ended_at - end_file) <= 2, (summary["ended_at"], end_file)
    assert env.tmux_sessions() == []
