"""Issue 14: a FIFO in place of a control file wedged ``ctask-ls`` (9 threads blocked in ``open()``).

The server reads every task's ``task.yaml`` and ``lease.yaml`` for ``ctask.list``
and its lease watcher; a FIFO there must be reported, never waited on, and
the server must keep answering.
"""

from __future__ import annotations

import os

import pytest

from ctask_ls.server import protocol as p
from tests.helpers import Env
from tests.server.conftest import Start, new_args

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("control", ["task.yaml", "lease.yaml", "summary.yaml"])
async def test_a_fifo_control_file_never_wedges_the_server(lsp: Start, env: Env, agent_py: str, control: str) -> None:
    s = await lsp()
    await s.command(p.NEW, new_args("t1", agent_py, "exit=0"))
    await s.command(p.NEW, new_args("t2", agent_py, "wait=never"))
    path = env.task_dir("t1") / control
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    for _ in range(3):  # the lease watcher polls meanwhile: it must not block either
        listed = await s.command(p.LIST, {})
        by_name = {x["name"]: x for x in listed}
        assert set(by_name) == {"t1", "t2"}
        assert "error" not in by_name["t2"], "the other task is listed as ever"
        if control != "summary.yaml":
            assert "not a regular file" in by_name["t1"]["error"]
        status = await s.command(p.STATUS, {"name": "t2"})
        assert status["name"] == "t2"
    await s.command(p.STOP, {"name": "t2"})
