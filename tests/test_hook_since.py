"""An activity's ``since`` is when its state began (ctask_ls/core/hook.py), as the real Claude Code's events need.

Seen with Claude Code 2.1 (tests/test_real_claude.py): ``Notification``
(``permission_prompt``) follows ``PermissionRequest`` about 6 s later, and
``idle_prompt`` follows ``Stop`` after 60 s, each with a message of its own.
Neither starts a new wait: ``needs_input 6s`` must not read ``0s``.
"""

from __future__ import annotations

import json
import os
import time
import typing as t
from pathlib import Path

import pytest

from ctask_ls.core import hook

ASKING = "Claude needs your permission to use Bash"
WAITING = "Claude is waiting for your input"


def test_a_later_event_in_the_same_state_keeps_since(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    control = tmp_path / "tasks" / "t1"
    control.mkdir(parents=True)
    (control / "launched").write_text("s1\n")
    for key, value in {"CTASK_HOME": str(tmp_path), "CTASK_TASK": "t1", "CTASK_SESSION_ID": "s1"}.items():
        monkeypatch.setenv(key, value)
    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])

    def event(at: float, name: str, **fields: str) -> dict[str, t.Any]:
        clock[0] = at
        data = {"session_id": "c1", "hook_event_name": name, **fields}
        read, write = os.pipe()
        os.write(write, json.dumps(data).encode())
        os.close(write)
        try:
            assert hook.main(["claude"], read) == 0
        finally:
            os.close(read)
        return dict(json.loads((control / hook.FILE).read_text()))

    asked = event(1000.0, "PermissionRequest", tool_name="Bash")
    reminded = event(1006.0, "Notification", notification_type="permission_prompt", message=ASKING)
    assert (reminded["state"], reminded["at"], reminded["since"]) == ("needs_input", 1000.0, asked["since"]), reminded
    assert reminded["message"] == ASKING
    assert event(1010.0, "Stop")["at"] == 1010.0
    later = event(1070.0, "Notification", notification_type="idle_prompt", message=WAITING)
    assert (later["state"], later["at"], later["message"]) == ("idle", 1010.0, WAITING), later
    again = event(1080.0, "UserPromptSubmit")
    assert (again["state"], again["at"]) == ("working", 1080.0), again
