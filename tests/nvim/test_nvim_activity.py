"""Activity in Neovim (SPEC 3.10): a real hook says PermissionRequest; the statusline, :Ctask list and vim.notify."""

from __future__ import annotations

import typing as t

import pytest

from tests.hook_agent import hook_agent
from tests.nvim.conftest import lease_part

if t.TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers import Env
    from tests.nvim.conftest import Nvim

STEPS = ["conv=conv-1", "event=UserPromptSubmit", "wait=ask", "event=PermissionRequest:Bash", "wait=quit"]


@pytest.mark.parametrize("notify", [True, False], ids=["notify", "quiet"])
def test_needs_input_is_unmissable_and_announced(nvim: Nvim, env: Env, tmp_path: Path, notify: bool) -> None:
    agent = hook_agent(tmp_path)
    env.write_config({"agent": {"command": agent[0], "args": [*agent[1:], *STEPS]}})
    run = nvim.run("activity.lua", {"notify": notify})
    assert run.returncode == 0, run.explain()
    res = run.result
    assert res["statusline_working"] == "● t1 owned ⚙ working"
    assert res["highlight_working"] is None
    assert res["statusline_needs_input"] == "● t1 owned ⚠ needs input"
    assert lease_part(res["statusline_needs_input"]) == "● t1 owned"
    assert res["statusline_highlighted"] == "● t1 owned %#CtaskNeedsInput#⚠ needs input%*"
    assert res["highlight_needs_input"] == "CtaskNeedsInput"
    assert res["hl_link"] == "DiagnosticWarn"
    assert res["lease_activity"]["state"] == "needs_input"
    assert res["lease_activity"]["source"] == "hook"
    assert res["lease_activity"]["message"] == "permission to use Bash"
    assert res["conversation_id"] == "conv-1"
    header, line = res["list_lines"]
    assert header.startswith("TASK ")
    # The statusline's words: "● owned", "⚠ needs input".
    assert line.split()[:6] == ["t1", "●", "owned", "running", "⚠", "needs"]
    assert res["list_highlights"] == [{"row": 0, "hl": "Title"}, {"row": 1, "hl": "CtaskNeedsInput"}]
    if notify:
        assert res["warnings"] == [
            "ctask: task t1 needs your input (permission to use Bash); attach with :Ctask attach t1"
        ]
        assert res["ended"].startswith("ctask: task t1: session ended (agent_exited, exit 0, ")
        assert res["ended"].endswith("; :Ctask diff t1 shows its changes, :Ctask resume t1 starts it again")
    else:
        assert res["warnings"] == []
        assert res["ended"] is None
    assert res["statusline_after"] == "○ t1 none"
    assert res["errors"] == []
