"""Emacs + eglot (Debian's emacs-nox and elpa-eglot) as a third-party client of ``ctask-ls``.

``emacs --batch -Q -l tests/emacs/drive.el CONFIG.json`` starts the real server
through eglot with the test's private environment (``tests.helpers.Env``:
HOME, XDG dirs, CTASK_HOME, config and a private tmux server), runs the
scenario of drive.el and writes one JSON line per observation. The run
happens once per module; the tests read what it saw.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest

from tests.helpers import AGENT_SCRIPT, Env

DRIVER = Path(__file__).resolve().parent / "drive.el"
SERVER_COMMAND = [sys.executable, "-m", "ctask_ls"]
TASK = "eglot-t1"
AGENT_FILE = "from-agent.txt"
DRIVER_TIMEOUT = 40.0
"""drive.el's own watchdog; the process is killed a little after it."""


@dataclasses.dataclass
class EmacsRun:
    """What one batch Emacs run observed."""

    returncode: int | None
    stdout: str
    stderr: str
    events: list[dict[str, t.Any]]
    transcript: str
    """The JSON-RPC events buffer, as eglot logged it."""
    server_stderr: str

    def of(self, event: str) -> list[dict[str, t.Any]]:
        return [e for e in self.events if e.get("event") == event]

    def notes(self, method: str, name: str | None = TASK) -> list[dict[str, t.Any]]:
        """Notifications of ``method`` (for task ``name``; None: all), in arrival order, with ``seq``."""
        return [
            e
            for e in self.of("notification")
            if e.get("method") == method and (name is None or (e.get("params") or {}).get("name") == name)
        ]

    def commands(self, command: str) -> list[dict[str, t.Any]]:
        return [e for e in self.of("command") if e.get("command") == command]

    @property
    def capabilities(self) -> dict[str, t.Any]:
        connected = self.of("connected")
        assert connected, f"eglot never connected to ctask-ls\n{self.explain()}"
        return t.cast(dict[str, t.Any], connected[0].get("capabilities") or {})

    def explain(self) -> str:
        events = "\n".join(json.dumps(e) for e in self.events)
        return (
            f"emacs exited {self.returncode}\n--- driver events\n{events}\n--- emacs stderr\n{self.stderr[-4000:]}"
            f"\n--- server stderr\n{self.server_stderr[-4000:]}\n--- JSON-RPC transcript (tail)\n"
            f"{self.transcript[-6000:]}"
        )


def _reap(emacs: subprocess.Popen[str], env: Env, grace: float = 5.0) -> None:
    """Kill Emacs's process group, give a server a moment to leave by itself, then kill what is left."""
    with contextlib.suppress(OSError):
        os.killpg(emacs.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        emacs.wait(timeout=5)
    deadline = time.monotonic() + grace
    while (pids := env.server_pids()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def run_emacs(env: Env, agent_args: list[str]) -> EmacsRun:
    """Run drive.el once in ``env``; never leaves Emacs or a server running."""
    out = env.root / "emacs-events.jsonl"
    project = env.root / "project"
    project.mkdir(exist_ok=True)
    config = {
        "out": str(out),
        "dir": str(project),
        "server": SERVER_COMMAND,
        "task": TASK,
        "agent": sys.executable,
        "args": agent_args,
        "timeout": DRIVER_TIMEOUT,
    }
    config_path = env.root / "emacs-config.json"
    config_path.write_text(json.dumps(config))
    code, stdout, stderr = env.run_group(
        ["emacs", "--batch", "-Q", "-l", str(DRIVER), str(config_path)],
        timeout=DRIVER_TIMEOUT + 10,
        cwd=project,
        reap=lambda proc: _reap(proc, env),
    )
    events = [json.loads(line) for line in _read(out).splitlines() if line.strip()]
    return EmacsRun(
        code,
        stdout,
        stderr,
        events,
        _read(out.with_name(out.name + ".events")),
        _read(out.with_name(out.name + ".stderr")),
    )


@pytest.fixture(scope="module")
def eglot_run(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[EmacsRun]:
    """One Emacs + eglot session against the real server: ctask.new of an agent that
    writes a file, sleeps 1 s and exits 0; ctask.list; the session's notifications;
    ctask.list again; shutdown."""
    if shutil.which("emacs") is None:
        pytest.skip("emacs is not installed: `apt-get install emacs-nox elpa-eglot` (scripts/test-all does)")
    env = Env(tmp_path_factory.mktemp("emacs"))
    try:
        agent = env.root / "agent.py"
        agent.write_text(AGENT_SCRIPT)
        yield run_emacs(env, [str(agent), f"write={AGENT_FILE}:written by the agent", "sleep=1", "exit=0"])
    finally:
        env.cleanup()
