"""Codex's ``notify`` for its internal threads is not the user's turn (ctask_ls/core/hook.py).

Seen with the real Codex 0.171 (tests/test_real_codex.py): on the first
prompt it runs a second thread that asks the model for a title, and sends a
``notify`` when that ends too, usually before the user's turn ends.  Only
a thread Codex saved (its rollout under ``$CODEX_HOME/sessions``) counts.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from ctask_ls.core import hook


def uuid7(at: float) -> str:
    """A UUIDv7 created at ``at`` (Unix seconds), as Codex's thread ids are."""
    value = (int(at * 1000) << 80) | (0x7 << 76) | (uuid.uuid4().int & ((1 << 76) - 1))
    return str(uuid.UUID(int=value))


def save(codex_home: Path, thread: str, at: float) -> None:
    """The rollout Codex writes for a thread it keeps."""
    day = codex_home / "sessions" / time.strftime("%Y/%m/%d", time.localtime(at))
    day.mkdir(parents=True, exist_ok=True)
    (day / f"rollout-{time.strftime('%Y-%m-%dT%H-%M-%S', time.localtime(at))}-{thread}.jsonl").write_text("{}\n")


def test_only_a_saved_thread_counts(tmp_path: Path) -> None:
    at = time.time()
    user, title = uuid7(at), uuid7(at + 0.1)
    save(tmp_path, user, at)
    env = {"CODEX_HOME": str(tmp_path)}
    assert hook.codex_thread_saved(user, env)
    assert not hook.codex_thread_saved(title, env)
    old = uuid7(at - 40 * 86400)  # a resumed conversation from weeks ago
    save(tmp_path, old, at - 40 * 86400)
    assert hook.codex_thread_saved(old, env)
    # Cannot tell: the event counts.
    assert hook.codex_thread_saved("not-a-uuid", env)
    assert hook.codex_thread_saved(str(uuid.uuid4()), env)
    assert hook.codex_thread_saved(title, {"CODEX_HOME": str(tmp_path / "none")})
    assert hook.codex_thread_saved(user, {"HOME": str(tmp_path / "home")})


def test_the_title_threads_notify_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, control, codex_home = tmp_path / "ctask", tmp_path / "ctask" / "tasks" / "t1", tmp_path / "codex"
    control.mkdir(parents=True)
    (control / "launched").write_text("s1\n")
    for key, value in {"CTASK_HOME": str(home), "CTASK_TASK": "t1", "CTASK_SESSION_ID": "s1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CODEX_HOME", str(codex_home))
    at = time.time()
    user, title = uuid7(at), uuid7(at + 0.1)
    save(codex_home, user, at)

    def notify(thread: str, said: str) -> None:
        event = {"type": "agent-turn-complete", "thread-id": thread, "last-assistant-message": said}
        assert hook.main(["codex", json.dumps(event)]) == 0

    notify(title, "Say hello")  # the title's turn ends first
    assert not (control / hook.FILE).exists()
    notify(user, "Hello.")
    notify(title, "Say hello")  # or after the user's
    record = json.loads((control / hook.FILE).read_text())
    assert (record["state"], record["conversation_id"], record["message"]) == ("idle", user, "Hello."), record
