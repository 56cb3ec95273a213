"""A fake Claude Code that keeps Claude Code's hook contract (RECIPES "Agent hook contracts").

``claude [--settings FILE_OR_JSON] [--resume SESSION_ID] [other options ignored]``

At start it reads the ``hooks`` of ``--settings`` and fires ``SessionStart``
(``source``: ``startup``, or ``resume`` with ``--resume``).  Then each line
typed into its terminal is one step of a conversation:

- ``prompt TEXT``: ``UserPromptSubmit`` (``prompt``), then the model decides
  to run a command: ``PreToolUse`` (``tool_name: Bash``, ``tool_input``);
- ``ask``: the permission dialog shows: ``PermissionRequest`` (at once, as
  Claude Code 2.1 does), and the agent waits;
- ``approve``: the command runs: ``PostToolUse`` (``tool_response``), the
  model's last message, ``Stop`` (``stop_hook_active: false``);
- ``notify TYPE MESSAGE``: ``Notification`` (``notification_type``, ``message``);
- ``clear``: ``/clear``: ``SessionEnd`` (``reason: clear``), then a new
  session id and ``SessionStart`` (``source: clear``);
- ``quit``: ``SessionEnd`` (``reason: prompt_input_exit``), exit 0.

With ``$FAKE_AGENT_ARGV`` set, the arguments of each run are appended there
(a JSON line); while the file ``$FAKE_AGENT_RESUME_FAILS`` names exists, ``--resume ID`` fails
as Claude Code's does for a conversation it does not have (a line on
stderr, exit status 1).

Every hook runs as Claude Code runs it: ``sh -c COMMAND`` in the project
directory, the event's JSON on stdin (then closed), ``CLAUDE_PROJECT_DIR``
set, killed after its ``timeout`` (default 60 s); groups whose ``matcher``
(a regular expression; empty or ``*``: all) does not match the tool name
(the notification type, the start source) are skipped.  With
``$FAKE_AGENT_LOG`` set, each hook call is appended there as a JSON line
(event, exit status, what it printed, seconds), so a test can see that a
hook printed nothing and exited 0.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import typing as t
import uuid
from pathlib import Path

MATCHED_BY = {
    "PreToolUse": "tool_name",
    "PostToolUse": "tool_name",
    "PermissionRequest": "tool_name",
    "Notification": "notification_type",
    "SessionStart": "source",
}


class FakeClaude:
    def __init__(self, argv: list[str]) -> None:
        self.settings: dict[str, t.Any] = {}
        self.resume: str | None = None
        i = 0
        while i < len(argv):
            arg = argv[i]
            if arg in ("--settings", "--resume", "-r") and i + 1 < len(argv):
                if arg == "--settings":
                    self.settings = load_settings(argv[i + 1])
                else:
                    self.resume = argv[i + 1]
                i += 2
                continue
            if arg.startswith("--settings="):
                self.settings = load_settings(arg.split("=", 1)[1])
            i += 1
        self.cwd = str(Path.cwd())
        self.session_id = self.resume or str(uuid.uuid4())
        project = re.sub(r"[^A-Za-z0-9]", "-", self.cwd)
        self.transcript = str(Path.home() / ".claude" / "projects" / project / f"{self.session_id}.jsonl")
        self.tool_input: dict[str, str] = {}

    def fire(self, event: str, **fields: t.Any) -> None:
        payload = {
            "session_id": self.session_id,
            "transcript_path": self.transcript,
            "cwd": self.cwd,
            "hook_event_name": event,
            **fields,
        }
        data = json.dumps(payload).encode()
        target = str(fields.get(MATCHED_BY.get(event, ""), ""))
        for group in self.settings.get("hooks", {}).get(event, []):
            matcher = group.get("matcher") or "*"
            if matcher != "*" and not re.fullmatch(matcher, target):
                continue
            for hook in group.get("hooks", []):
                if hook.get("type") == "command":
                    self.run_hook(event, hook["command"], float(hook.get("timeout", 60)), data)

    def run_hook(self, event: str, command: str, timeout: float, data: bytes) -> None:
        start = time.monotonic()
        try:
            done = subprocess.run(
                ["sh", "-c", command],
                input=data,
                capture_output=True,
                cwd=self.cwd,
                env={**os.environ, "CLAUDE_PROJECT_DIR": self.cwd},
                timeout=timeout,
                check=False,
            )
            status, out, err = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as exc:
            status, out, err = None, exc.stdout or b"", exc.stderr or b""
        took = time.monotonic() - start
        log = os.environ.get("FAKE_AGENT_LOG")
        if log:
            record = {
                "agent": "claude",
                "event": event,
                "session_id": self.session_id,
                "status": status,
                "stdout": out.decode(errors="replace"),
                "stderr": err.decode(errors="replace"),
                "seconds": round(took, 4),
            }
            with open(log, "a") as f:
                f.write(json.dumps(record) + "\n")

    def step(self, line: str) -> bool:
        """One typed line; False once the agent should exit."""
        command, _, rest = line.strip().partition(" ")
        if command == "prompt":
            self.fire("UserPromptSubmit", prompt=rest)
            say(f"> {rest}")
            say("✻ Thinking…")
            self.tool_input = {"command": f"echo {rest!r}", "description": "Say it back"}
            self.fire("PreToolUse", tool_name="Bash", tool_input=self.tool_input)
            say(f"⏺ Bash({self.tool_input['command']})")
        elif command == "ask":
            self.fire(
                "PermissionRequest",
                tool_name="Bash",
                tool_input=self.tool_input,
                permission_suggestions=[],
            )
            say("Do you want to proceed?\n> 1. Yes\n  2. No, and tell Claude what to do differently (esc)")
        elif command == "approve":
            response = {"stdout": self.tool_input.get("command", ""), "stderr": "", "interrupted": False}
            self.fire("PostToolUse", tool_name="Bash", tool_input=self.tool_input, tool_response=response)
            say("⏺ Done.")
            self.fire("Stop", stop_hook_active=False)
        elif command == "notify":
            kind, _, message = rest.partition(" ")
            self.fire("Notification", notification_type=kind, message=message)
        elif command == "clear":  # /clear: a new conversation in the same process
            self.fire("SessionEnd", reason="clear")
            self.session_id = str(uuid.uuid4())
            self.fire("SessionStart", source="clear")
        elif command == "quit":
            self.fire("SessionEnd", reason="prompt_input_exit")
            return False
        return True

    def main(self) -> int:
        fails = os.environ.get("FAKE_AGENT_RESUME_FAILS")
        if self.resume is not None and fails and os.path.exists(fails):
            print(f"No conversation found with session ID: {self.resume}", file=sys.stderr, flush=True)
            return 1
        say(f"✻ Welcome to (fake) Claude Code  session {self.session_id}")
        self.fire("SessionStart", source="resume" if self.resume else "startup")
        say("> ", end="")
        for line in sys.stdin:
            if not self.step(line):
                return 0
            say("> ", end="")
        return 0


def load_settings(value: str) -> dict[str, t.Any]:
    """``--settings`` is a file or, as Claude Code also takes, the JSON itself."""
    text = value if value.lstrip().startswith("{") else Path(value).read_text()
    data = json.loads(text)
    return data if isinstance(data, dict) else {}


def say(text: str, end: str = "\n") -> None:
    print(text, end=end, flush=True)


def record_argv(agent: str, argv: list[str]) -> None:
    """With ``$FAKE_AGENT_ARGV`` set, append the arguments this run was started with there (a JSON line)."""
    log = os.environ.get("FAKE_AGENT_ARGV")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"agent": agent, "argv": argv}) + "\n")


if __name__ == "__main__":
    record_argv("claude", sys.argv[1:])
    sys.exit(FakeClaude(sys.argv[1:]).main())
