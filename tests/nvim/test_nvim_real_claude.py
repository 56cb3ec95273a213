"""The real Claude Code CLI through Neovim's own ctask-ls (SPEC 3.10, issue 15), offline.

Neovim starts ``ctask-ls``, which launches the real Claude Code (pinned in
tests/agents_npm) against the scripted Messages API of
:mod:`tests.agents.fake_anthropic`; its hooks, wired by the server, must reach
the statusline: ``idle`` at SessionStart, ``working`` once a prompt is typed
into its pane, ``needs input`` (with the warning highlight and a WARN
notification) the moment the permission dialog shows, ``idle`` after the
approved command ran and the model answered.  The conversation id the plugin
shows is Claude Code's own session id.  The driver (drivers/real_claude.lua)
drops a mark file at each state; this test acts on the pane and the model as
a user would.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
import typing as t

import pytest

from tests.agents import real_agent
from tests.agents.fake_anthropic import FakeAnthropic
from tests.helpers import retry_until
from tests.test_real_claude import KEY, PROMPT_MARK, WAIT, approve, keys, logged, prepare_home

if t.TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers import Env
    from tests.nvim.conftest import Nvim, NvimRun

pytestmark = pytest.mark.timeout(300)


def test_real_claude_needs_input_and_idle_reach_the_statusline(nvim: Nvim, env: Env, tmp_path: Path) -> None:
    claude = real_agent("claude")
    log = tmp_path / "hooks.jsonl"
    prepare_home(env, log)
    marks = tmp_path / "marks"
    marks.mkdir()
    with FakeAnthropic() as api, concurrent.futures.ThreadPoolExecutor(1) as pool:
        api.gate.clear()  # the Bash call waits until Neovim has shown the turn working
        env.vars.update(ANTHROPIC_BASE_URL=api.url, ANTHROPIC_API_KEY=KEY)
        # This version's default permission mode is "auto", which runs a harmless command without asking.
        env.write_config({"agent": {"command": str(claude), "args": ["--permission-mode", "manual"]}})
        running = pool.submit(nvim.run, "real_claude.lua", {"marks": str(marks)}, timeout=240)

        def reached(name: str) -> None:
            """The driver's mark NAME (it saw that state in the statusline); its output when it gave up first."""
            retry_until(lambda: (marks / name).exists() or running.done(), seconds=2 * WAIT, interval=0.1)
            if not (marks / name).exists():
                run: NvimRun = running.result()
                raise AssertionError(f"Neovim never showed {name}:\n{run.explain()}")

        reached("idle")
        retry_until(lambda: PROMPT_MARK in env.tmux("capture-pane", "-p", "-t", "=ctask-t1:").stdout, seconds=WAIT)
        keys(env, "run the command", literal=True)
        time.sleep(0.3)  # typed text and Enter in one burst would be taken for a paste
        keys(env, "Enter")
        reached("working")
        retry_until(lambda: api.of_kind("tool_use", answered=False), seconds=WAIT)
        api.gate.set()  # the model asks to run Bash: the permission dialog
        reached("needs_input")
        approve(env)
        run = running.result(timeout=4 * WAIT)
    assert run.returncode == 0, run.explain()
    res = run.result
    conversation = res["conversation_start"]
    sessions = {e.get("session_id") for _, e in logged(log)}
    assert sessions == {conversation}, (conversation, sessions)  # Claude Code's own session id
    assert res["conversation_end"] == conversation
    assert res["statusline_idle"] == "● t1 owned ◌ idle"
    assert res["statusline_working"] == "● t1 owned ⚙ working"
    assert res["statusline_needs_input"] == "● t1 owned ⚠ needs input"
    assert res["statusline_highlighted"] == "● t1 owned %#CtaskNeedsInput#⚠ needs input%*"
    activity = res["needs_input_activity"]
    assert (activity["state"], activity["source"], activity["message"]) == (
        "needs_input",
        "hook",
        "permission to use Bash",
    )
    assert res["warning"] == "ctask: task t1 needs your input (permission to use Bash); attach with :Ctask attach t1"
    assert res["statusline_idle_after"] == "● t1 owned ◌ idle"
    assert res["stop_error"] is None
    assert res["ended"].startswith("ctask: task t1: session ended (stopped, ")
    assert (env.tree("t1") / "proof.txt").read_text() == "hi\n"
    summary = env.summary("t1")
    assert summary is not None and summary["session_ownership"] == "owned", summary
    print(json.dumps({k: v for k, v in res.items() if k.startswith("statusline")}, ensure_ascii=False))
