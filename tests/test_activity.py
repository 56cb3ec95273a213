"""Activity (SPEC 3.10) through the real CLI, with agents that keep the real agents' hook contracts.

The fake ``claude`` and ``codex`` (tests/agents) are launched by name, so ctask
wires them exactly as it wires the real ones (``--settings``, ``-c notify``),
and they run the configured hooks as the real ones do.  Lines typed into the
task's tmux pane drive each step; ``ctask status --json``, ``ctask list``,
``ctask status`` and ``ctask wait`` must follow.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import typing as t
from pathlib import Path

import pytest

from tests.helpers import Env, retry_until

pytestmark = pytest.mark.timeout(120)


def hook_calls(env: Env) -> list[dict[str, t.Any]]:
    try:
        text = Path(env.vars["FAKE_AGENT_LOG"]).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines()]


def type_line(env: Env, name: str, text: str) -> None:
    """Type ``text`` and Enter into task NAME's pane, as a user at its terminal would."""
    target = f"={env.tmux_name(name)}:"
    for keys in (["-l", text], ["Enter"]):
        proc = env.tmux("send-keys", "-t", target, *keys)
        assert proc.returncode == 0, proc.stderr


def activity(env: Env, name: str) -> dict[str, t.Any] | None:
    return t.cast("dict[str, t.Any] | None", env.json("status", name)["activity"])


def reaches(env: Env, name: str, state: str, seconds: float = 20.0, **fields: t.Any) -> dict[str, t.Any]:
    """Wait until task NAME's activity is ``state`` (and has ``fields``); return it."""

    def look() -> dict[str, t.Any] | None:
        now = activity(env, name)
        if now is not None and now["state"] == state and all(now.get(k) == v for k, v in fields.items()):
            return now
        return None

    try:
        return t.cast("dict[str, t.Any]", retry_until(look, seconds, interval=0.1))
    except AssertionError:
        raise AssertionError(f"activity of {name} never became {state} {fields}: now {activity(env, name)}") from None


def list_activity(env: Env, name: str) -> str:
    """The ACTIVITY column of NAME's line in ``ctask list``."""
    proc = env.run("list", check=True)
    header, *lines = proc.stdout.splitlines()
    start = header.index("ACTIVITY")
    end = header.index("UPDATED")
    for line in lines:
        if line.split(" ", 1)[0] == name:
            return line[start:end].strip()
    raise AssertionError(f"{name} not in ctask list: {proc.stdout}")


def wait(env: Env, name: str, target: str, *extra: str) -> subprocess.Popen[str]:
    return env.spawn("wait", name, "--for", target, *extra)


def assert_hooks_were_quiet(env: Env, agent: str) -> list[dict[str, t.Any]]:
    """Every hook call the agent made exited 0 and printed nothing."""
    calls = [c for c in hook_calls(env) if c["agent"] == agent]
    assert calls, "the agent ran no hook: it was not wired"
    for call in calls:
        assert (call["status"], call["stdout"], call["stderr"]) == (0, "", ""), call
    return calls


# -- Claude Code's hooks ---------------------------------------------------------------------


def test_claude_hooks_drive_activity_step_by_step(agents: Env) -> None:
    env = agents
    env.new_detached("t1", ["claude"])
    started = reaches(env, "t1", "idle", source="hook")  # SessionStart
    session_id = retry_until(lambda: [c["session_id"] for c in hook_calls(env) if c["event"] == "SessionStart"])[0]
    assert env.json("status", "t1")["conversation_id"] == session_id
    assert re.fullmatch(r"idle \d+s", list_activity(env, "t1"))
    assert started["since"].endswith("Z")

    type_line(env, "t1", "prompt fix the bug")
    working = reaches(env, "t1", "working", message="Bash")  # UserPromptSubmit, then PreToolUse
    assert working["source"] == "hook"
    assert list_activity(env, "t1").startswith("working ")

    type_line(env, "t1", "ask")
    asked = reaches(env, "t1", "needs_input")  # PermissionRequest, at once
    assert asked["message"] == "permission to use Bash"
    assert list_activity(env, "t1").startswith("needs_input ")
    shown = env.run("status", "t1", check=True).stdout
    line = r"^activity: +needs_input \d+s \(since \S+Z, from hook\): permission to use Bash$"
    assert re.search(line, shown, re.MULTILINE), shown
    assert f"\nconversation: {session_id}\n" in shown
    assert env.run("wait", "t1", "--for", "needs_input", "--timeout", "5").returncode == 0
    assert env.run("wait", "t1", "--for", "idle", "--timeout", "0.5").returncode == 4

    # Claude Code's own permission Notification comes ~6 s later: the wait goes on, its age too
    time.sleep(1.1)
    type_line(env, "t1", "notify permission_prompt Claude needs your permission to use Bash")
    later = reaches(env, "t1", "needs_input", message="Claude needs your permission to use Bash")
    assert later["since"] == asked["since"], "the same wait: its age is kept"

    waiter = wait(env, "t1", "idle", "--timeout", "30")
    time.sleep(0.5)
    assert waiter.poll() is None, "wait returned before the agent was idle"
    type_line(env, "t1", "approve")  # PostToolUse, then Stop
    code, out, err = env.finish(waiter, timeout=30)
    assert code == 0, err
    assert out.startswith("task t1: now idle "), out
    assert reaches(env, "t1", "idle")["source"] == "hook"

    type_line(env, "t1", "notify elicitation_dialog Claude has a question")
    assert reaches(env, "t1", "needs_input")["message"] == "Claude has a question"
    type_line(env, "t1", "notify idle_prompt Claude is waiting for your input")
    reaches(env, "t1", "idle")

    ending = wait(env, "t1", "needs_input", "--timeout", "30")
    type_line(env, "t1", "quit")
    code, out, err = env.finish(ending, timeout=30)
    assert (code, out) == (3, "task t1: the session ended before it was needs_input\n"), err
    assert env.run("wait", "t1", "--for", "ended", "--timeout", "20").returncode == 0
    events = [c["event"] for c in assert_hooks_were_quiet(env, "claude")]
    assert events == [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PermissionRequest",
        "Notification",
        "PostToolUse",
        "Stop",
        "Notification",
        "Notification",
    ], "SessionEnd is not wired: the agent's exit is tmux's to see"
    after = env.json("status", "t1")
    assert after["activity"] is None
    assert after["conversation_id"] == session_id, "kept for a resume"
    assert list_activity(env, "t1") == "-"
    env.records("t1", 1)


def test_claude_wiring_leaves_the_users_settings_alone(agents: Env) -> None:
    env = agents
    own = env.home / ".claude" / "settings.json"
    own.parent.mkdir()
    own.write_text('{"hooks": {}}\n')
    env.new_detached("t1", ["claude"])
    reaches(env, "t1", "idle", source="hook")
    assert own.read_text() == '{"hooks": {}}\n'
    settings = env.task_dir("t1") / "claude-settings.json"
    assert settings.stat().st_mode & 0o777 == 0o600
    assert set(json.loads(settings.read_text())["hooks"]) == {
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "PermissionRequest",
        "Stop",
        "Notification",
    }
    type_line(env, "t1", "quit")
    assert env.run("wait", "t1", "--for", "ended", "--timeout", "20").returncode == 0


# -- Codex's notify ----------------------------------------------------------------------------


def test_codex_notify_reports_each_turn_and_output_starts_the_next(agents: Env) -> None:
    env = agents
    env.write_config({"idle_after": 1.5})
    env.new_detached("t1", ["codex"])
    first = retry_until(lambda: activity(env, "t1"))  # its banner: no hook has spoken yet
    assert first["source"] == "output"
    assert env.json("status", "t1")["conversation_id"] is None

    type_line(env, "t1", "prompt write the tests")
    done = reaches(env, "t1", "idle", source="hook")
    assert done["message"] == "Done: write the tests"
    thread = next(c["thread-id"] for c in assert_hooks_were_quiet(env, "codex"))
    assert env.json("status", "t1")["conversation_id"] == thread
    assert env.run("wait", "t1", "--for", "idle", "--timeout", "5").returncode == 0

    time.sleep(1.2)  # past the second that the report shares with the turn's last output
    type_line(env, "t1", "busy 4")  # a new turn: Codex says nothing until it ends
    assert reaches(env, "t1", "working")["source"] == "output"
    quiet = reaches(env, "t1", "idle", source="output", seconds=20)
    assert quiet["since"] > done["since"]

    type_line(env, "t1", "prompt again")
    assert reaches(env, "t1", "idle", source="hook", message="Done: again")
    assert env.json("status", "t1")["conversation_id"] == thread, "one thread for the whole session"
    assert len(assert_hooks_were_quiet(env, "codex")) == 2
    type_line(env, "t1", "quit")
    assert env.run("wait", "t1", "--for", "ended", "--timeout", "20").returncode == 0


# -- any agent: tmux's view ------------------------------------------------------------------


def test_generic_agent_is_working_while_it_writes_and_idle_after_quiet(agents: Env) -> None:
    env = agents
    env.write_config({"idle_after": 2})
    env.new_detached("t1", ["bursty"])
    reaches(env, "t1", "idle", source="output", seconds=20)  # its banner, then quiet

    waiter = wait(env, "t1", "idle", "--timeout", "30")
    code, _out, _err = env.finish(waiter)
    assert code == 0, "already idle: the wait returns at once"

    type_line(env, "t1", "burst 6")
    busy = reaches(env, "t1", "working", source="output")
    assert list_activity(env, "t1").startswith("working ")
    waiter = wait(env, "t1", "idle", "--timeout", "30")
    time.sleep(1.5)
    assert env.json("status", "t1")["activity"]["state"] == "working", "still writing"
    assert waiter.poll() is None
    code, _out, err = env.finish(waiter, timeout=30)
    assert code == 0, err
    quiet = reaches(env, "t1", "idle", source="output")
    assert quiet["since"] >= busy["since"], "idle since its last output"
    assert re.fullmatch(r"idle \d+s", list_activity(env, "t1"))

    proc = env.run("wait", "t1", "--for", "needs_input", "--timeout", "1", "--json")
    assert proc.returncode == 4, "only a hook can say an agent needs input"
    assert json.loads(proc.stdout) == {
        "task": "t1",
        "for": "needs_input",
        "outcome": "timeout",
        "activity": env.json("status", "t1")["activity"],
    }

    waiter = wait(env, "t1", "ended", "--timeout", "30")
    time.sleep(0.5)
    assert waiter.poll() is None
    type_line(env, "t1", "quit")
    code, out, err = env.finish(waiter, timeout=30)
    assert (code, out) == (0, "task t1: ended, no session\n"), err
    env.records("t1", 1)
    assert env.run("wait", "t1", "--for", "idle", "--timeout", "5").returncode == 3, "no session to become idle"
    assert env.run("wait", "t1", "--for", "ended").returncode == 0


def test_wait_errors_are_errors(agents: Env) -> None:
    env = agents
    missing = env.run("wait", "nope", "--for", "idle", "--timeout", "1")
    assert missing.returncode == 1
    assert missing.stderr.startswith("ctask: error: task 'nope' does not exist")
    for bad in (["--timeout", "-1"], ["--timeout", "nan"], []):
        args = ["wait", "nope", *(["--for", "idle"] if bad else []), *bad]
        assert env.run(*args).returncode == 2, args
    assert env.run("wait", "nope", "--for", "working").returncode == 2, "working is no state to wait for"


# -- the rules, without processes ------------------------------------------------------------


def test_activity_rules_hooks_first_output_for_the_rest() -> None:
    import datetime as dt

    from ctask_ls.core.activity import Activity, HookRecord, current
    from ctask_ls.core.tmux import PaneState

    def pane(output_at: float | None, *, dead: bool = False, sid: str = "s1") -> PaneState:
        return PaneState("ctask-t1", dead, None, None, 1, sid, dead_time=200.0 if dead else None, output_at=output_at)

    def record(agent: str, state: str = "idle", sid: str = "s1") -> HookRecord:
        since = dt.datetime.fromtimestamp(100, dt.UTC)
        return HookRecord(sid, agent, Activity(state, since, "hook"), "conv", at=100.5)

    def now(rec: HookRecord | None, p: PaneState | None, at: float = 103.0) -> tuple[str, str] | None:
        got = current(rec, p, idle_after=10, now=at)
        return None if got is None else (got.state, got.source)

    assert now(record("claude"), None) is None, "no session, no activity"
    assert now(record("claude"), pane(101, dead=True)) == ("exited", "output")
    assert now(record("claude", "needs_input"), pane(102)) == ("needs_input", "hook"), "a dialog is quiet"
    assert now(record("claude"), pane(150), at=151) == ("idle", "hook"), "only a hook says when Claude works"
    assert now(record("claude", sid="old"), pane(102)) == ("working", "output"), "an old session's record"
    assert now(record("claude", sid="old"), pane(102), at=112.5) == ("idle", "output")
    assert now(None, pane(None)) is None
    assert now(record("codex"), pane(101)) == ("idle", "hook"), "the turn's last output"
    assert now(record("codex"), pane(102)) == ("working", "output"), "Codex's next turn"
    assert now(record("codex"), pane(102), at=120) == ("idle", "output")


def test_ages_are_short() -> None:
    from ctask_ls.cli_print import age_text

    assert [age_text(s) for s in (-3, 0, 59.9, 60, 3599, 3600, 86399, 86400 * 3)] == [
        "0s",
        "0s",
        "59s",
        "1m",
        "59m",
        "1h",
        "23h",
        "3d",
    ]
