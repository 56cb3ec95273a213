"""The hook benchmark: one ``ctask hook`` call, as an agent makes it, interpreter start included.

The command is the exact one the launch wiring gives the agents
(``core/wiring.py``): for Claude Code the ``command`` of its ``--settings``
hooks, split as ``sh -c`` would split it, with the event JSON on stdin; for
Codex the ``notify`` argv with the event as its last argument.  The task is
real enough for the hook to do all its work: its ``launched`` mark names the
session, so every call reads the mark and the previous record and replaces
``activity.json`` (the events alternate, so no call is skipped as "nothing
changed").  The reference, interleaved call by call so both see the same
minute of a shared machine, is the same interpreter doing nothing
(``python -I -S -c pass``): the floor of any hook written in Python.
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
import subprocess
import sys
import time
import typing as t
from pathlib import Path

from ctask_ls.core import wiring

if t.TYPE_CHECKING:
    from bench.run import Row

CALLS = 300
TARGET_P95 = 0.050
CLAUDE_EVENTS = ("UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop")


def _pct(values: list[float], q: float) -> float:
    """As server_bench's percentiles."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(argv: list[str], stdin: bytes | None, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, input=stdin, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def bench_hook(tmp: Path, runs: int) -> list[Row]:
    from bench.run import Row, verdict

    home = tmp / "ctask"
    control = home / "tasks" / "b1"
    control.mkdir(parents=True)
    sid = "bench-1-1"
    (control / "launched").write_text(sid)
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "CTASK_HOME": str(home),
        "CTASK_TASK": "b1",
        "CTASK_SESSION_ID": sid,
    }
    command = wiring.claude_settings()["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    claude = shlex.split(command)
    codex = wiring.hook_argv("codex")
    reference = [sys.executable, "-I", "-S", "-c", "pass"]

    def claude_event(i: int) -> bytes:
        name = CLAUDE_EVENTS[i % len(CLAUDE_EVENTS)]
        event = {
            "session_id": "c0ffee-conversation",
            "transcript_path": str(tmp / "t.jsonl"),
            "cwd": str(tmp),
            "hook_event_name": name,
            "tool_name": "Bash",
            "tool_input": {"command": "make test", "description": "Run the tests"},
        }
        return json.dumps(event).encode()

    def codex_event(i: int) -> str:
        event = {
            "type": "agent-turn-complete",
            "thread-id": "th-1",
            "turn-id": str(i),
            "cwd": str(tmp),
            "input-messages": ["fix the bug"],
            "last-assistant-message": f"Done, turn {i}",
        }
        return json.dumps(event)

    for i in range(10):  # warm-up: page cache, bytecode of the standard library
        _timed(claude, claude_event(i), env)
        _timed(reference, None, env)
    ours: list[float] = []
    notify: list[float] = []
    ref: list[float] = []
    calls = max(CALLS, runs)
    for i in range(calls):
        ours.append(_timed(claude, claude_event(i), env))
        ref.append(_timed(reference, None, env))
        notify.append(_timed([*codex, codex_event(i)], None, env))
    record = json.loads((control / "activity.json").read_text())
    assert record["session_id"] == sid and record["agent"] == "codex", record  # every call did its work

    def row(what: str, times: list[float]) -> Row:
        p50, p95 = statistics.median(times), _pct(times, 0.95)
        r50, r95 = statistics.median(ref), _pct(ref, 0.95)
        return Row(
            what,
            f"{p50 * 1000:.1f} / {p95 * 1000:.1f} ms",
            f"python -I -S -c pass p50 / p95: {r50 * 1000:.1f} / {r95 * 1000:.1f} ms",
            f"{p50 / r50:.2f}× / {p95 / r95:.2f}×",
            "p95 ≤ 50 ms",
            verdict(p95 <= TARGET_P95),
        )

    return [
        row(f"`ctask hook` per Claude Code event ({calls} calls, event on stdin), p50 / p95", ours),
        row(f"… per Codex notify ({calls} calls, event as the last argument), p50 / p95", notify),
    ]


BENCHES: dict[str, t.Callable[[Path, int], list[Row]]] = {"hook": bench_hook}
