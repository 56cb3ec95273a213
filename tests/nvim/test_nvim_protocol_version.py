"""A server that speaks another protocol (an older ctask-ls, on this machine or another host) is refused in one
line that says what to do; nothing it would answer is shown."""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

from ctask_ls.protocol import PROTOCOL_VERSION

if t.TYPE_CHECKING:
    from tests.nvim.conftest import Nvim

OLD_SERVER = Path(__file__).resolve().parent / "old_server.py"


def test_an_older_server_is_refused_in_one_line(nvim: Nvim) -> None:
    run = nvim.run("old_server.lua", {"cmd": [sys.executable, str(OLD_SERVER)]})
    assert run.returncode == 0, run.explain()
    res = run.result
    said = (
        f"this machine runs an older ctask-ls, and this plugin speaks protocol {PROTOCOL_VERSION}: "
        "install the same ctask there (pipx upgrade ctask-ls)"
    )
    assert res["err"] == said
    assert res["result"] is None
    assert res["errors"] == [f"ctask: {said}"]
