"""`:Ctask` subcommands and completion, with no setup() and no file open (vim.lsp.enable path)."""

from __future__ import annotations

import typing as t

from tests.nvim.conftest import lease_part

if t.TYPE_CHECKING:
    from tests.helpers import Env
    from tests.nvim.conftest import Nvim

SUBCOMMANDS = [
    "attach",
    "diff",
    "diffthis",
    "last",
    "list",
    "log",
    "new",
    "newrepo",
    "open",
    "remove",
    "resume",
    "revert",
    "status",
    "stop",
]


def test_commands_and_completion_without_setup(nvim: Nvim, env: Env, agent: list[str]) -> None:
    env.run("new", "alpha", "--agent", agent[0], "--", agent[1], "write=a.txt:x", "sleep=0.5", check=True)
    env.run("new", "beta", "--detach", "--agent", agent[0], "--", agent[1], "wait=done", check=True)
    run = nvim.run("commands.lua")
    assert run.returncode == 0, run.explain()
    res = run.result
    assert res["clients_before_any_command"] == 0
    assert res["complete_subcommands"] == SUBCOMMANDS
    assert res["complete_re"] == ["remove", "resume", "revert"]
    assert [line.split()[0] for line in res["list_lines"]] == ["alpha", "beta"]
    assert res["complete_names"] == ["alpha", "beta"]
    assert res["complete_names_a"] == ["alpha"]
    assert res["complete_new"] == []
    assert res["complete_after_name"] == []
    assert res["one_client"] is True
    assert lease_part(res["statusline_by_cwd"]) == "○ alpha none"
    assert lease_part(res["statusline_by_buffer"]) == "● beta owned"
    assert res["current_task"] == "beta"
    assert res["status_alpha"].startswith("ctask: alpha: lease missing, no tmux session, last agent_exited +1 ~0 -0")
    assert len(res["log_alpha"]) == 1
    assert "agent_exited" in res["log_alpha"][0]
    assert res["beta_terminals_after_two_attaches"] == 1
    ended = [m for m in res["stop_beta"] if "beta" in m and "stop" in m]
    assert [m.split(";")[0] for m in ended] == ["ctask: task beta: session ended (stopped, +0 ~0 -0)"]
    assert lease_part(res["last_statusline"]) == "● beta owned"
    assert res["remove_asked"]["items"] == ["Remove", "Cancel"]
    assert res["complete_names_after_remove"] == ["beta"]
    assert res["alpha_dir_exists"] is False
    assert res["errors"] == []
    assert [s["end_reason"] for s in env.sessions("beta")] == ["stopped"]
