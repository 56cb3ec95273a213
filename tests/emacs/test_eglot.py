"""Emacs + eglot, a third-party LSP client, using ``ctask-ls`` as a user would.

One batch Emacs run (see conftest.py and drive.el) starts the real server
through eglot, edits a text file of the project, launches a task whose agent
writes a file and exits, lists tasks, follows the session's notifications to
its end, lists again and shuts the server down. Each test checks one thing a
user of that editor would see.
"""

from __future__ import annotations

import typing as t

from ctask_ls.server import protocol
from tests.emacs.conftest import AGENT_FILE, TASK, EmacsRun


def _result(run: EmacsRun, command: str, index: int = 0) -> t.Any:
    calls = run.commands(command)
    assert len(calls) > index, f"{command} call #{index + 1} never returned\n{run.explain()}"
    call = calls[index]
    assert "error" not in call, f"{command} failed: {call['error']}\n{run.explain()}"
    return call["result"]


def test_the_driver_ran_to_its_end(eglot_run: EmacsRun) -> None:
    """Emacs exits 0 after the whole scenario: nothing timed out, no request failed."""
    failed = eglot_run.of("failed")
    assert not failed, f"drive.el failed: {failed[0]['message']}\n{eglot_run.explain()}"
    assert eglot_run.returncode == 0, eglot_run.explain()
    assert eglot_run.of("done"), eglot_run.explain()


def test_eglot_sees_the_commands(eglot_run: EmacsRun) -> None:
    commands = eglot_run.capabilities.get("executeCommandProvider", {}).get("commands", [])
    assert "ctask.new" in commands, eglot_run.capabilities
    assert "ctask.list" in commands, eglot_run.capabilities


def test_new_launches_and_list_shows_the_task(eglot_run: EmacsRun) -> None:
    new = _result(eglot_run, "ctask.new")
    assert new["task"] == TASK
    assert new["action"] == "launched"
    assert new["session"]["lease"]["owner"] == "server"

    listed = {task["name"]: task for task in _result(eglot_run, "ctask.list")}
    assert TASK in listed, f"ctask.list: {sorted(listed)}"
    assert listed[TASK]["lease"]["state"] == "fresh_local"
    assert listed[TASK]["lease"]["session_id"] == new["session"]["session_id"]


def test_lease_state_shows_the_session_owned_then_gone(eglot_run: EmacsRun) -> None:
    """ctask/leaseState: owned by this server while the agent runs, then no lease after sessionEnded."""
    states = eglot_run.notes(protocol.LEASE_STATE)
    owned = [n for n in states if n["params"].get("owned_here") is True]
    assert owned, f"no ctask/leaseState with owned_here: {[n['params'] for n in states]}\n{eglot_run.explain()}"
    first = owned[0]["params"]
    assert first["lease"]["state"] == "fresh_local"
    assert first["lease"]["owner"] == "server"
    assert first["tmux_alive"] is True
    assert first["lease"]["session_id"] == _result(eglot_run, "ctask.new")["session"]["session_id"]

    ended = eglot_run.notes(protocol.SESSION_ENDED)
    assert ended, eglot_run.explain()
    after = [n["params"] for n in states if n["seq"] > ended[0]["seq"]]
    assert after, f"no ctask/leaseState after sessionEnded\n{eglot_run.explain()}"
    assert after[0]["lease"]["state"] == "missing"
    assert after[0]["owned_here"] is False
    assert after[0]["tmux_alive"] is False
    # From "owned" straight to "ended": no unowned state between.
    between = [n["params"] for n in states if owned[0]["seq"] < n["seq"] < ended[0]["seq"]]
    assert all(p.get("owned_here") is True for p in between), between


def test_session_ended_shows_the_file_the_agent_wrote(eglot_run: EmacsRun) -> None:
    ended = eglot_run.notes(protocol.SESSION_ENDED)
    assert len(ended) == 1, f"{len(ended)} ctask/sessionEnded\n{eglot_run.explain()}"
    summary = ended[0]["params"]["summary"]
    assert summary["session_id"] == _result(eglot_run, "ctask.new")["session"]["session_id"]
    assert summary["added"] == [AGENT_FILE]
    assert summary["counts"] == {"added": 1, "modified": 0, "deleted": 0}
    assert summary["end_reason"] == "agent_exited"
    assert summary["exit_status"] == 0
    assert summary["session_ownership"] == "owned"

    # The task list now shows the ended session, as a user listing again sees it.
    listed = {task["name"]: task for task in _result(eglot_run, "ctask.list", 1)}
    task = listed[TASK]
    assert task["tmux_alive"] is False
    assert task["lease"]["state"] == "missing"
    assert task["last_summary"]["session_id"] == summary["session_id"]
    assert task["last_summary"]["counts"]["added"] == 1


def test_shutdown_is_clean_and_nothing_alarming_was_shown(eglot_run: EmacsRun) -> None:
    """shutdown answers null, the server exits 0 by itself after exit, and no popup was shown."""
    shutdown = eglot_run.of("shutdown")
    assert shutdown, eglot_run.explain()
    assert shutdown[0]["result"] is None
    assert shutdown[0]["exited_by_itself"] is True, eglot_run.explain()
    assert shutdown[0]["exit_status"] == 0
    shown = eglot_run.notes("window/showMessage", name=None)
    assert not shown, [n["params"] for n in shown]
    buffer = eglot_run.of("buffer")
    assert buffer, eglot_run.explain()
    assert buffer[0]["mode"] == "text-mode"


def test_no_text_document_sync_is_advertised(eglot_run: EmacsRun) -> None:
    """Editors must not send their open buffers to ctask-ls (issue 12)."""
    capabilities = eglot_run.capabilities
    assert "textDocumentSync" not in capabilities, (
        f"ctask-ls advertises textDocumentSync {capabilities.get('textDocumentSync')!r} to eglot"
    )
