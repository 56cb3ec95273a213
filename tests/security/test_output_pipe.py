"""The owned sessions' output pipe (``ctask_ls/server/output.py``, issue 15): tmux runs a command for it.

``pipe-pane`` expands tmux formats in its command, and the FIFO's path comes
from ``$TMPDIR``: a directory named like a format (``#(cmd)``) must run
nothing.  The FIFOs are the server's own: a 0700 directory, 0600 FIFOs,
removed when the server exits.
"""

from __future__ import annotations

import asyncio
import stat
import typing as t
from pathlib import Path

import pytest

from ctask_ls.server import protocol as p
from tests.server.conftest import new_args

if t.TYPE_CHECKING:
    from tests.helpers import Env
    from tests.server.conftest import Start

pytestmark = pytest.mark.timeout(120)


def fifos(pid: int) -> list[Path]:
    """The FIFOs the process has open (``/proc/PID/fd``)."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink()
        except OSError:
            continue
        if target.name.endswith(".fifo") and target.exists() and stat.S_ISFIFO(target.stat().st_mode):
            found.append(target)
    return found


async def test_a_tmpdir_named_like_a_tmux_format_runs_nothing_and_the_fifos_are_private(
    lsp: Start, env: Env, agent_py: str, tmp_path: Path
) -> None:
    tmpdir = tmp_path / "#(cd;touch pwned)"
    tmpdir.mkdir()
    env.vars["TMPDIR"] = str(tmpdir)
    env.write_config({"idle_after": 1})
    s = await lsp(init={"autoAdopt": False})
    await s.command(p.NEW, new_args("t1", agent_py, "wait=more", "print=piped", "wait=quit"))
    await asyncio.sleep(1.0)  # the output is piped a moment after the launch returns
    pid = s.pid
    (fifo,) = fifos(pid)
    assert fifo.parent.parent == tmpdir and fifo.parent.name.startswith("ctask-ls-output-"), fifo
    assert stat.S_IMODE(fifo.stat().st_mode) == 0o600
    assert stat.S_IMODE(fifo.parent.stat().st_mode) == 0o700
    assert env.tmux("display-message", "-p", "-t", "=ctask-t1:", "#{pane_pipe}").stdout.strip() == "1"

    mark = s.mark()
    (env.tree("t1") / "more").write_text("")
    note = await s.wait_for(
        p.ACTIVITY, lambda n: (n.get("activity") or {}).get("state") == "working", name="t1", since=mark
    )
    assert note.params["activity"]["source"] == "output"
    assert not (env.home / "pwned").exists(), "tmux ran a command named by $TMPDIR"

    (env.tree("t1") / "quit").write_text("")
    await s.wait_for(p.SESSION_ENDED, name="t1", since=mark)
    await s.shutdown()
    assert not fifo.parent.exists(), "the server's FIFO directory outlived it"
