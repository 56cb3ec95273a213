"""The real Codex CLI through ctask, offline, against a scripted Responses API (SPEC 3.10, issue 15).

``@openai/codex`` (pinned in tests/agents_npm, installed by scripts/test-all)
runs its interactive UI in ctask's tmux session with no network and no
account: a model provider given with ``-c`` in the task's agent arguments
sends its model calls to :mod:`tests.agents.fake_openai`, whose key comes
from ``agent.env``.  One prompt typed into the pane; at the turn's end the
``notify`` ctask wires (``-c notify=[...]``) must reach ctask: activity
``idle`` from the hook, and the conversation id is the thread Codex saved
(its rollout under ``~/.codex/sessions``, what ``codex resume`` takes).

This Codex also runs a second, internal thread per first prompt (it asks the
model for a title) and sends a ``notify`` for it too: its id must not become
the task's conversation.
"""

from __future__ import annotations

import json
import time
import typing as t

import pytest

from tests.agents import real_agent
from tests.agents.fake_openai import ANSWER, KEY_VARIABLE, FakeOpenAI, codex_args
from tests.helpers import Env, retry_until

pytestmark = pytest.mark.timeout(300)

WAIT = 30.0
"""Seconds to wait for any one step (the machine may be loaded)."""
PROMPT = "say hello"
COMPOSER = "\u203a"
"""The mark (a single right-pointing angle quotation mark) before Codex's input line."""


def status(env: Env) -> dict[str, t.Any]:
    proc = env.run("status", "t1", "--json")
    assert proc.returncode == 0, proc.stderr
    return t.cast(dict[str, t.Any], json.loads(proc.stdout))


def screen(env: Env) -> str:
    return env.tmux("capture-pane", "-p", "-t", "=ctask-t1:").stdout


def last_input(body: dict[str, t.Any]) -> str | None:
    """The text of a Responses request's last input item (the title thread's quotes the prompt in its own)."""
    items = body.get("input") or [{}]
    content = items[-1].get("content") or [{}]
    return t.cast(str | None, content[0].get("text"))


def keys(env: Env, *keys: str, literal: bool = False) -> None:
    proc = env.tmux("send-keys", "-t", "=ctask-t1:", *(["-l"] if literal else []), *keys)
    assert proc.returncode == 0, proc.stderr


def test_a_turn_notifies_ctask(env: Env) -> None:
    codex = real_agent("codex")
    with FakeOpenAI() as api:
        env.write_config({"agent": {"command": "sh", "args": [], "env": {KEY_VARIABLE: "fake-key"}}})
        proc = env.run("new", "t1", "--detach", "--agent", str(codex), "--", *codex_args(api.url))
        assert proc.returncode == 0, proc.stderr

        # The UI is up when its composer shows; until a turn ends only the pane's output speaks.
        try:
            retry_until(lambda: COMPOSER in screen(env), seconds=WAIT, interval=0.2)
        except AssertionError:
            raise AssertionError(f"codex's composer never showed:\n{screen(env)}") from None
        before = status(env)
        assert (before.get("activity") or {}).get("source") != "hook", before

        keys(env, PROMPT, literal=True)
        time.sleep(0.3)  # typed text and Enter in one burst would be taken for a paste
        keys(env, "Enter")
        entered = time.time()

        def notified() -> dict[str, t.Any] | None:
            now = status(env)
            activity = now.get("activity") or {}
            return now if activity.get("state") == "idle" and activity.get("source") == "hook" else None

        try:
            now = t.cast(dict[str, t.Any], retry_until(notified, seconds=WAIT, interval=0.1))
        except AssertionError:
            raise AssertionError(f"no notify within {WAIT}s: {status(env)}; pane:\n{screen(env)}") from None
        notified_after = time.time() - entered
        assert now["activity"]["message"] == ANSWER, now

        # The conversation is the user's thread: the one Codex saved, the one the prompt went to.
        rollouts = list((env.home / ".codex" / "sessions").rglob("rollout-*.jsonl"))
        assert len(rollouts) == 1, rollouts
        (asked,) = [r for r in api.responses() if last_input(r.body) == PROMPT]
        thread = asked.body["prompt_cache_key"]
        assert rollouts[0].name.endswith(f"-{thread}.jsonl"), (rollouts, thread)
        time.sleep(1.0)  # the title thread's notify, when it comes after the turn's
        now = status(env)
        assert now["conversation_id"] == thread, (now, [r.body.get("prompt_cache_key") for r in api.responses()])
        assert now["activity"]["state"] == "idle" and now["activity"]["message"] == ANSWER, now
        print(f"idle from codex's notify {notified_after:.2f}s after Enter; {len(api.responses())} model calls")

    proc = env.run("stop", "t1")
    assert proc.returncode == 0, proc.stderr
    (record,) = env.records("t1", 1)
    assert record["end_reason"] == "stopped", record
