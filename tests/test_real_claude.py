"""The real Claude Code CLI through ctask, offline, against a scripted Messages API (SPEC 3.10, issue 15).

``@anthropic-ai/claude-code`` (pinned in tests/agents_npm, installed by
scripts/test-all) runs in ctask's tmux session with no network and no
account: a prepared ``~/.claude.json`` skips every first-run dialog and
``ANTHROPIC_BASE_URL`` sends its model calls to :mod:`tests.agents.fake_anthropic`.
One real turn: a prompt typed into the pane, the scripted model's Bash call,
the permission dialog, its approval, the answer.  Activity must follow from
the hooks ctask wires with ``--settings``, and the conversation id ctask
records must be Claude Code's own session id.

A user hook in ``~/.claude/settings.json`` (tests/agents/record_hook.py) logs
every event Claude Code sends, so a failure shows what it did and when; it
also proves the user's own hooks keep running next to ctask's.
"""

from __future__ import annotations

import json
import sys
import time
import typing as t
from pathlib import Path

import pytest

from tests.agents import real_agent
from tests.agents.fake_anthropic import FakeAnthropic
from tests.helpers import Env, retry_until

pytestmark = pytest.mark.timeout(300)

KEY = "sk-ant-fake-ctask"
"""Claude Code approves a custom key by the key as given: keep it short."""
WAIT = 30.0
"""Seconds to wait for any one step (the machine may be loaded)."""
EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop")
PROMPT_MARK = "\u276f"
"""The mark (a heavy right-pointing angle quotation mark) before Claude Code's input line."""
RECORDER = Path(__file__).resolve().parent / "agents" / "record_hook.py"


def prepare_home(env: Env, log: Path) -> None:
    """First-run dialogs done, the fake key approved, the ctask home trusted; a user hook logging every event."""
    config = {
        "hasCompletedOnboarding": True,
        "customApiKeyResponses": {"approved": [KEY], "rejected": []},
        # Trust given to a directory covers every one below it: all task trees.
        "projects": {str(env.ctask_home): {"hasTrustDialogAccepted": True}},
    }
    (env.home / ".claude.json").write_text(json.dumps(config))
    command = f"{sys.executable} -I -S {RECORDER} {log}"
    group = [{"matcher": "*", "hooks": [{"type": "command", "command": command}]}]
    hooks = dict.fromkeys((*EVENTS, "Notification"), group)
    (env.home / ".claude").mkdir()
    (env.home / ".claude" / "settings.json").write_text(json.dumps({"hooks": hooks}))


def logged(log: Path) -> list[tuple[float, dict[str, t.Any]]]:
    """(time, event) of every hook call the user's hook saw so far."""
    if not log.exists():
        return []
    return [(at, event) for at, event in (json.loads(line) for line in log.read_text().splitlines() if line)]


def status(env: Env) -> dict[str, t.Any]:
    proc = env.run("status", "t1", "--json")
    assert proc.returncode == 0, proc.stderr
    return t.cast(dict[str, t.Any], json.loads(proc.stdout))


def wait_activity(env: Env, state: str, what: str) -> dict[str, t.Any]:
    """Task t1's status once its activity is ``state`` from a hook (fails after :data:`WAIT` s, saying ``what``)."""
    seen: list[t.Any] = []

    def reached() -> dict[str, t.Any] | None:
        now = status(env)
        activity = now.get("activity") or {}
        if not seen or seen[-1] != activity:
            seen.append(activity)
        return now if activity.get("state") == state and activity.get("source") == "hook" else None

    try:
        return t.cast(dict[str, t.Any], retry_until(reached, seconds=WAIT, interval=0.1))
    except AssertionError:
        screen = env.tmux("capture-pane", "-p", "-t", "=ctask-t1:").stdout
        raise AssertionError(f"{what}: no {state!r} within {WAIT}s; activities seen {seen}; pane:\n{screen}") from None


def hook_at(env: Env) -> float:
    """When the hook that made the current activity ran (``at`` in activity.json)."""
    return float(json.loads(env.read_control("t1", "activity.json"))["at"])


def keys(env: Env, *keys: str, literal: bool = False) -> None:
    proc = env.tmux("send-keys", "-t", "=ctask-t1:", *(["-l"] if literal else []), *keys)
    assert proc.returncode == 0, proc.stderr


def approve(env: Env) -> int:
    """Answer the permission dialog with Enter (its first choice, yes) once it shows; how many presses it took.

    The hook fires as the dialog is being drawn: on a loaded machine a key
    sent at once can come before the dialog takes keys, so wait for its
    question, and press again while it is still asking.
    """
    proof = env.tree("t1") / "proof.txt"

    def asking() -> bool:
        return "Do you want to proceed?" in env.tmux("capture-pane", "-p", "-t", "=ctask-t1:").stdout

    retry_until(lambda: asking() or proof.exists(), seconds=WAIT, interval=0.1)
    deadline, presses = time.monotonic() + WAIT, 0
    while not proof.exists():
        if time.monotonic() > deadline:
            screen = env.tmux("capture-pane", "-p", "-t", "=ctask-t1:").stdout
            raise AssertionError(f"the approved command did not run within {WAIT}s; pane:\n{screen}")
        if asking():
            keys(env, "Enter")
            presses += 1
        pressed = time.monotonic()
        while not proof.exists() and time.monotonic() - pressed < 3.0:
            time.sleep(0.1)
    return presses


def test_one_turn_with_a_permission_prompt(env: Env, tmp_path: Path) -> None:
    claude = real_agent("claude")
    log = tmp_path / "hooks.jsonl"
    prepare_home(env, log)
    with FakeAnthropic() as api:
        api.gate.clear()  # the Bash call waits until the test has seen the turn working
        env.vars.update(ANTHROPIC_BASE_URL=api.url, ANTHROPIC_API_KEY=KEY)
        # This version's default permission mode is "auto", which runs a harmless command without asking.
        proc = env.run("new", "t1", "--detach", "--agent", str(claude), "--", "--permission-mode", "manual")
        assert proc.returncode == 0, proc.stderr
        started = time.time()

        # SessionStart: idle, and Claude Code's session id is the conversation id.
        now = wait_activity(env, "idle", "SessionStart")
        conversation = now["conversation_id"]
        assert isinstance(conversation, str) and conversation, now

        # A prompt typed into the pane, once its input line shows: working (UserPromptSubmit, PreToolUse).
        retry_until(lambda: PROMPT_MARK in env.tmux("capture-pane", "-p", "-t", "=ctask-t1:").stdout, seconds=WAIT)
        keys(env, "run the command", literal=True)
        time.sleep(0.3)  # typed text and Enter in one burst would be taken for a paste
        keys(env, "Enter")
        wait_activity(env, "working", "UserPromptSubmit")
        retry_until(lambda: api.of_kind("tool_use", answered=False), seconds=WAIT)

        # The model asks to run Bash: the permission dialog, needs_input from PermissionRequest at once.
        api.gate.set()
        now = wait_activity(env, "needs_input", "PermissionRequest")
        asked = api.of_kind("tool_use")[0].answered_at
        assert asked is not None
        assert now["activity"]["message"] == "permission to use Bash", now
        delay = hook_at(env) - asked
        assert delay < 4.0, f"needs_input {delay:.1f}s after the tool call: not from PermissionRequest"
        assert not [e for _, e in logged(log) if e.get("hook_event_name") == "Notification"], logged(log)
        assert not (env.tree("t1") / "proof.txt").exists(), "the command ran before it was approved"

        # Approved: the command runs, the model answers, the turn ends: idle (Stop).
        presses = approve(env)
        proof = env.tree("t1") / "proof.txt"
        retry_until(lambda: proof.read_text() == "hi\n", seconds=WAIT)  # the shell creates it, then writes
        now = wait_activity(env, "idle", "Stop")
        assert api.of_kind("answer"), [r.kind for r in api.requests]
        assert now["conversation_id"] == conversation, now

        # The conversation id is the one Claude Code reported: in its hooks, its API calls, its transcript.
        events = logged(log)
        assert {e.get("session_id") for _, e in events} == {conversation}, events
        assert api.session_ids() == {conversation}, [r.body.get("metadata") for r in api.requests]
        transcripts = list((env.home / ".claude" / "projects").glob(f"*/{conversation}.jsonl"))
        assert transcripts, sorted((env.home / ".claude").rglob("*.jsonl"))
        names = [e.get("hook_event_name") for _, e in events if e.get("hook_event_name") in EVENTS]
        assert names == list(EVENTS), names
        timeline = ", ".join(f"{e.get('hook_event_name')} +{at - started:.2f}s" for at, e in events)
        print(f"hooks seen: {timeline}; needs_input {delay:.2f}s after the tool call; approved with {presses} Enter")

        # The tmux server goes away (a reboot, as far as ctask can tell); resume carries the conversation on.
        assert env.tmux("kill-server").returncode == 0
        retry_until(lambda: env.tmux("list-sessions").returncode != 0, seconds=WAIT)
        proc = env.run("resume", "t1", "--detach")
        assert proc.returncode == 0, proc.stderr
        assert f"resuming conversation {conversation}" in proc.stderr, proc.stderr
        (first,) = env.records("t1", 1)
        assert first["end_reason"] == "tmux_server_gone", first
        assert first["counts"]["added"] == 1, first
        pane_pid = int(env.tmux("list-panes", "-t", "=ctask-t1", "-F", "#{pane_pid}").stdout.split()[0])
        argv = Path(f"/proc/{pane_pid}/cmdline").read_bytes().split(b"\0")
        assert [b"--resume", conversation.encode()] == argv[argv.index(b"--resume") :][:2], argv
        resumed = retry_until(
            lambda: [e for _, e in logged(log) if e.get("hook_event_name") == "SessionStart"][1:], seconds=WAIT
        )
        assert resumed[0]["source"] == "resume" and resumed[0]["session_id"] == conversation, resumed
        screen = retry_until(
            lambda: "run the command" in (text := env.tmux("capture-pane", "-p", "-t", "=ctask-t1:").stdout) and text,
            seconds=WAIT,
        )
        assert "run the command" in screen, "the earlier turn is on its screen"
        assert status(env)["conversation_id"] == conversation

        proc = env.run("stop", "t1")
        assert proc.returncode == 0, proc.stderr
    _first, record = env.records("t1", 2)
    assert record["end_reason"] == "stopped", record
