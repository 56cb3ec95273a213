"""A test agent that runs ctask's hook as Claude Code would: each step an event, JSON on the hook's stdin.

The agent inherits ``CTASK_HOME``, ``CTASK_TASK`` and ``CTASK_SESSION_ID``
from its launch like any agent, and runs ``python -I -S <repo>/ctask_ls/core/hook.py
claude`` with the documented event JSON (``hook_event_name``, ``session_id``:
the conversation id, ``tool_name``), so the whole path from a hook to the
editors is the real one.  Steps, in order:

- ``conv=ID``: the conversation id the following events carry;
- ``event=NAME`` or ``event=NAME:TOOL``: run the hook with that event
  (``PermissionRequest:Bash`` is a permission dialog: ``needs_input``);
- ``wait=FILE`` (until FILE exists in the agent's tree), ``sleep=S``,
  ``print=TEXT``, ``exit=N``.
"""

from __future__ import annotations

import sys
import typing as t

from tests.helpers import REPO

if t.TYPE_CHECKING:
    from pathlib import Path

HOOK = REPO / "ctask_ls" / "core" / "hook.py"

HOOK_AGENT_SCRIPT = f"""\
import json, os, subprocess, sys, time, pathlib
here = pathlib.Path(os.environ.get("CTASK_WORKTREE") or os.environ.get("CTASK_WORKSPACE", "."))
conversation = "conv-1"
for arg in sys.argv[1:]:
    if arg.startswith("conv="):
        conversation = arg[5:]
    elif arg.startswith("event="):
        name, _, tool = arg[6:].partition(":")
        event = {{"hook_event_name": name, "session_id": conversation, "cwd": os.getcwd()}}
        if tool:
            event["tool_name"] = tool
        subprocess.run([sys.executable, "-I", "-S", {str(HOOK)!r}, "claude"], input=json.dumps(event).encode())
    elif arg.startswith("wait="):
        path = here / arg[5:]
        while not path.exists():
            time.sleep(0.02)
    elif arg.startswith("sleep="):
        time.sleep(float(arg[6:]))
    elif arg.startswith("print="):
        print(arg[6:], flush=True)
    elif arg.startswith("exit="):
        sys.exit(int(arg[5:]))
"""


def hook_agent(tmp_path: Path) -> list[str]:
    """argv prefix of the hook-running agent: ``[*hook_agent(tmp), "event=UserPromptSubmit", ...]``."""
    script = tmp_path / "hook_agent.py"
    script.write_text(HOOK_AGENT_SCRIPT)
    return [sys.executable, str(script)]
