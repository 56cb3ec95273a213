"""Per-launch hook wiring: agents with hooks report their activity to ``ctask hook`` (SPEC 3.10).

The user's own agent configuration is never touched; each launch adds to the
agent's command line only:

- **Claude Code** (command ``claude``): ``--settings FILE``, a 0600 JSON file
  in the task's control directory whose ``hooks`` run the hook script on
  ``SessionStart``, ``UserPromptSubmit``, ``PreToolUse``, ``PostToolUse``,
  ``PermissionRequest``, ``Stop`` and ``Notification``.  Claude Code merges
  it over the user's settings, so the user's own hooks keep running.
- **Codex** (command ``codex``): ``-c notify=[...]``, which runs the hook
  script with each finished turn's JSON as its last argument.

The hook runs as ``python -I -S -c "...import hook..." AGENT``: isolated
from the environment and without ``site``, so it starts in a few
milliseconds whatever the agent's environment holds, and imported as the
module ``hook`` from its own directory (appended to ``sys.path``, after the
standard library) rather than run by path, so that Python uses its cached
bytecode instead of compiling it at every event (a third of what the hook
adds to an interpreter start).  Which hooks a launch wires is its
profile's (:mod:`ctask_ls.core.profiles`): by the agent command's file name
unless the task or the config names a profile.
"""

from __future__ import annotations

import json
import shlex
import sys
import typing as t
from pathlib import Path

from ctask_ls.core.storage import write_private

HOOK_SCRIPT = str(Path(__file__).with_name("hook.py"))
_HOOK_DIR = str(Path(HOOK_SCRIPT).parent)
HOOK_CODE = f"import sys;sys.path.append({_HOOK_DIR!r});import hook;sys.exit(hook.main(sys.argv[1:]))"
"""What ``python -c`` runs: :func:`ctask_ls.core.hook.main` with the arguments after the code."""
CLAUDE_EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PermissionRequest", "Stop")
"""Events whose hooks take no matcher or match every tool; ``Notification`` is added with its own."""
TOOL_EVENTS = frozenset({"PreToolUse", "PostToolUse", "PermissionRequest"})
HOOK_TIMEOUT = 10
"""Seconds Claude Code gives one hook call (ours take milliseconds; a ``Stop`` hook is waited for)."""


def hook_argv(agent: str) -> list[str]:
    """The command line of the hook for ``agent`` (``claude`` or ``codex``)."""
    return [sys.executable, "-I", "-S", "-c", HOOK_CODE, agent]


def claude_settings() -> dict[str, t.Any]:
    """The ``--settings`` of a Claude Code launch: every hook runs ``ctask hook``."""
    command = shlex.join(hook_argv("claude"))
    entry: dict[str, t.Any] = {"type": "command", "command": command, "timeout": HOOK_TIMEOUT}
    hooks: dict[str, list[dict[str, t.Any]]] = {}
    for event in (*CLAUDE_EVENTS, "Notification"):
        group: dict[str, t.Any] = {"hooks": [entry]}
        if event in TOOL_EVENTS:
            group["matcher"] = "*"
        hooks[event] = [group]
    return {"hooks": hooks}


def wire(argv: t.Sequence[str], settings_file: Path, hooks: str) -> list[str]:
    """``argv`` with the hooks of kind ``hooks`` (its profile's, :mod:`.profiles`) wired to ctask, writing
    ``settings_file`` for Claude Code; ``none``: ``argv`` as it is."""
    agent = hooks
    if agent == "claude":
        write_private(settings_file, json.dumps(claude_settings(), indent=2).encode())
        return [argv[0], "--settings", str(settings_file), *argv[1:]]
    if agent == "codex":
        return [argv[0], "-c", "notify=" + json.dumps(hook_argv("codex")), *argv[1:]]
    return list(argv)
