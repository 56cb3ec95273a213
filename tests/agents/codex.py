"""A fake Codex CLI that keeps Codex's ``notify`` contract (RECIPES "Agent hook contracts").

``codex [-c KEY=VALUE]... [resume THREAD_ID] [other arguments ignored]``

``-c notify=[...]`` (a TOML array of strings; ctask writes it as JSON, which
is the same here) names a program and its first arguments.  Each line typed
into its terminal:

- ``prompt TEXT``: a turn: some output, then the notify program runs with
  ``{"type": "agent-turn-complete", "thread-id", "turn-id", "cwd",
  "input-messages": [TEXT], "last-assistant-message"}`` as its *last*
  argument (Codex waits for nothing: the program is started and left);
- ``busy SECONDS``: output for that long with no report (a turn under way:
  Codex reports finished turns only);
- ``quit``: exit 0.

With ``$FAKE_AGENT_LOG`` set, each notify call is appended there as a JSON
line (exit status, what it printed, seconds); with ``$FAKE_AGENT_ARGV``, the
arguments of each run; while the file ``$FAKE_AGENT_RESUME_FAILS`` names exists, ``resume ID`` fails
as Codex's does for a session it does not have (stderr, exit status 1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
import typing as t
import uuid
from pathlib import Path


def parse_notify(value: str) -> list[str]:
    """The ``notify`` override's value: a TOML array of strings (JSON's form is valid TOML)."""
    try:
        data: t.Any = json.loads(value)
    except ValueError:
        data = tomllib.loads(f"notify = {value}")["notify"]
    if not isinstance(data, list) or not all(isinstance(a, str) for a in data):
        raise SystemExit(f"codex: notify must be an array of strings, not {value!r}")
    return list(data)


def main(argv: list[str]) -> int:
    notify: list[str] = []
    thread = str(uuid.uuid4())
    i = 0
    while i < len(argv):
        if argv[i] in ("-c", "--config") and i + 1 < len(argv):
            key, _, value = argv[i + 1].partition("=")
            if key.strip() == "notify":
                notify = parse_notify(value)
            i += 2
            continue
        if argv[i] == "resume" and i + 1 < len(argv):
            thread = argv[i + 1]
            i += 2
            continue
        i += 1
    log = os.environ.get("FAKE_AGENT_ARGV")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"agent": "codex", "argv": argv}) + "\n")
    fails = os.environ.get("FAKE_AGENT_RESUME_FAILS")
    if "resume" in argv and fails and os.path.exists(fails):
        print(f"Error: No saved session found with ID {thread}", file=sys.stderr, flush=True)
        return 1
    cwd = str(Path.cwd())
    print(f">_ (fake) OpenAI Codex  thread {thread}", flush=True)
    print("> ", end="", flush=True)
    for line in sys.stdin:
        command, _, rest = line.strip().partition(" ")
        if command == "prompt":
            for word in ("Working", "Reading files", "Thinking"):
                print(f"• {word}…", flush=True)
                time.sleep(0.05)
            answer = f"Done: {rest}"
            print(f"• {answer}", flush=True)
            event = {
                "type": "agent-turn-complete",
                "thread-id": thread,
                "turn-id": str(uuid.uuid4()),
                "cwd": cwd,
                "input-messages": [rest],
                "last-assistant-message": answer,
            }
            if notify:
                run_notify(notify, event)
        elif command == "busy":
            end = time.monotonic() + float(rest or 1)
            while time.monotonic() < end:
                print("• Working…", flush=True)
                time.sleep(0.1)
        elif command == "quit":
            return 0
        print("> ", end="", flush=True)
    return 0


def run_notify(notify: list[str], event: dict[str, t.Any]) -> None:
    start = time.monotonic()
    done = subprocess.run([*notify, json.dumps(event)], capture_output=True, stdin=subprocess.DEVNULL, check=False)
    log = os.environ.get("FAKE_AGENT_LOG")
    if log:
        record = {
            "agent": "codex",
            "event": event["type"],
            "thread-id": event["thread-id"],
            "status": done.returncode,
            "stdout": done.stdout.decode(errors="replace"),
            "stderr": done.stderr.decode(errors="replace"),
            "seconds": round(time.monotonic() - start, 4),
        }
        with open(log, "a") as f:
            f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
