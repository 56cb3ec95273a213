"""`:Ctask` subcommands and completion, with no setup() and no file open (vim.lsp.enable path)."""

from __future__ import annotations

import re
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
    header, *rows = res["list_lines"]
    assert header.split() == ["TASK", "LEASE", "TMUX", "ACTIVITY", "UPDATED", "LAST", "SESSION", "BRANCH"]
    assert [line.split()[0] for line in rows] == ["alpha", "beta"]
    # The lease in the statusline's words, in the column under LEASE.
    lease_col = header.index("LEASE")
    assert rows[0][lease_col:].startswith("○ none ")
    # beta: orphaned (detached) until the server adopts it, which may happen before or after the list.
    assert re.match(r"(● owned|◐ pid \d+|○ none|! stale) +running ", rows[1][lease_col:]), rows[1]
    # Completion offers the tasks that fit: beta runs, alpha does not.
    assert res["complete_names"] == {
        "resume": ["alpha"],
        "attach": ["beta"],
        "stop": ["beta"],
        "remove": ["alpha"],
        "remove!": ["alpha", "beta"],
        "Ctask! remove": ["alpha", "beta"],
        "status": ["alpha", "beta"],
        "diff": ["alpha", "beta"],
    }
    assert res["complete_names_a"] == []
    assert res["complete_new"] == []
    assert res["complete_after_name"] == []
    assert res["one_client"] is True
    assert lease_part(res["statusline_by_cwd"]) == "○ alpha none"
    assert lease_part(res["statusline_by_buffer"]) == "● beta owned"
    assert res["current_task"] == "beta"
    assert res["status_alpha"].startswith("ctask: alpha: lease ○ none, no tmux session, last agent_exited +1 ~0 -0")
    assert len(res["log_alpha"]) == 1
    assert "agent_exited" in res["log_alpha"][0]
    assert res["beta_terminals_after_two_attaches"] == 1
    assert res["beta_terminal_name"] == "ctask://beta"
    assert res["term_buffers"] == []
    # remove refused a running task before asking, with the reason and Neovim's commands.
    busy = res["remove_busy"]
    assert busy["asked"] is None
    assert busy["kind"] == "TaskBusy"
    assert busy["lease_pid"] in busy["children"]  # the lease is this Neovim's own ctask-ls's
    assert len(busy["lines"]) == 2 and busy["lines"][0] == busy["lines"][1]
    assert busy["lines"][0].startswith("ctask: task beta is in use by this Neovim's ctask-ls (")
    assert busy["lines"][0].endswith(
        f" pid {busy['lease_pid']}); stop it first with :Ctask stop beta, or :Ctask remove! beta removes it anyway"
    )
    ended = [m for m in res["stop_beta"] if "beta" in m and "stop" in m]
    assert [m.split(";")[0] for m in ended] == ["ctask: task beta: session ended (stopped, +0 ~0 -0)"]
    assert lease_part(res["last_statusline"]) == "● beta owned"
    assert res["remove_asked"]["items"] == ["Remove", "Cancel"]
    assert res["complete_names_after_remove"] == ["beta"]
    assert res["alpha_dir_exists"] is False
    assert res["errors"] == busy["lines"]
    assert [s["end_reason"] for s in env.sessions("beta")] == ["stopped"]
