"""The whole editor flow in a real headless Neovim with the real server and tmux."""

from __future__ import annotations

import typing as t

from tests.nvim.conftest import lease_part

if t.TYPE_CHECKING:
    from tests.helpers import Env
    from tests.nvim.conftest import Nvim


def test_new_owned_files_in_quickfix_then_none(nvim: Nvim, env: Env, agent: list[str]) -> None:
    env.write_config(
        {
            "agent": {
                "command": agent[0],
                "args": [agent[1], "wait=go", "write=a.txt:hello", "write=b.txt:world", "wait=done"],
            }
        }
    )
    run = nvim.run("flow.lua")
    assert run.returncode == 0, run.explain()
    res = run.result
    assert res["statusline_before"] == ""
    assert res["name_prompt"] == "New task name: "
    assert lease_part(res["statusline_owned"]) == "● t1 owned"
    assert res["owned_after_lease_ms"] <= 2000
    spec = res["terminal_spec"]
    assert spec["command"].endswith("tmux")
    assert "attach-session" in spec["args"]
    assert spec["cwd"] == str(env.tree("t1"))
    assert "ctask-t1" in res["tmux_clients"]
    live = {(i["file"], i["text"]) for i in res["quickfix_live"]}
    assert {("a.txt", "added"), ("b.txt", "added")} <= live
    assert res["quickfix_live_title"] == "ctask diff t1 (live)"
    assert lease_part(res["statusline_after"]) == "○ t1 none"
    assert res["none_after_lease_gone_ms"] <= 2000
    final = {(i["file"], i["text"]) for i in res["quickfix_final"]}
    assert {("a.txt", "added"), ("b.txt", "added")} <= final
    assert res["terminal_closed"] is True
    assert res["tabs_after_close"] == 1
    assert res["diff_title"] == "ctask diff t1 (last session)"
    assert {("a.txt", "added"), ("b.txt", "added")} <= {(i["file"], i["text"]) for i in res["diff_items"]}
    assert res["errors"] == []
    summary = env.summary("t1")
    assert summary is not None
    assert summary["end_reason"] == "agent_exited"
    assert env.lease("t1") is None
