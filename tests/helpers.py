"""Shared test helpers: isolated environments, the CLI as a real process, waiting."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

FAST_CONFIG: dict[str, t.Any] = {
    "agent": {"command": "sh", "args": [], "env": {}},
    "heartbeat_interval": 0.3,
    "stale_after": 3,
    "poll_interval": 0.1,
    "lock_timeout": 5,
    "launch_grace": 0.3,
}


def retry_until(fn: t.Callable[[], t.Any], seconds: float = 10.0, interval: float = 0.05) -> t.Any:
    """Call ``fn`` until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds}s: {fn}")
        time.sleep(interval)


class Env:
    """A private HOME/XDG/CTASK_HOME and a private tmux socket for one test."""

    def __init__(self, root: Path, config: dict[str, t.Any] | None = None) -> None:
        self.root = root
        self.home = root / "home"
        self.ctask_home = root / "ctask"
        # tmux socket paths must stay under ~100 bytes: keep them in a short dir.
        self.sock_dir = Path(tempfile.mkdtemp(prefix="ct", dir="/tmp"))
        self.socket = str(self.sock_dir / "tmux.sock")
        self.config_path = root / "config.yaml"
        for d in (self.home, root / "xdg-data", root / "xdg-config", root / "xdg-state", root / "xdg-cache"):
            d.mkdir(parents=True, exist_ok=True)
        self.write_config(config or {})
        self.vars = {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(root / "xdg-data"),
            "XDG_CONFIG_HOME": str(root / "xdg-config"),
            "XDG_STATE_HOME": str(root / "xdg-state"),
            "XDG_CACHE_HOME": str(root / "xdg-cache"),
            "CTASK_HOME": str(self.ctask_home),
            "CTASK_CONFIG": str(self.config_path),
            "CTASK_TMUX_SOCKET": self.socket,
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(REPO),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.procs: list[subprocess.Popen[str]] = []

    def write_config(self, overrides: dict[str, t.Any]) -> None:
        data = {**FAST_CONFIG, **overrides}
        self.config_path.write_text(yaml.safe_dump(data))

    def task_dir(self, name: str) -> Path:
        return self.ctask_home / "tasks" / name

    def run(
        self, *args: str, timeout: float = 60, env: dict[str, str] | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "ctask_ls.cli", *args],
            env={**self.vars, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"ctask {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def json(self, *args: str) -> t.Any:
        proc = self.run(*args, "--json", check=True)
        return json.loads(proc.stdout)

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``ctask ARGS`` in the background (its own process group)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "ctask_ls.cli", *args],
            env={**self.vars, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.root,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )

    def tmux_sessions(self) -> list[str]:
        out = self.tmux("list-sessions", "-F", "#{session_name}")
        return out.stdout.split() if out.returncode == 0 else []

    def lease(self, name: str) -> dict[str, t.Any] | None:
        try:
            return t.cast(dict[str, t.Any], yaml.safe_load((self.task_dir(name) / ".ctask/lease.yaml").read_text()))
        except FileNotFoundError:
            return None

    def sessions(self, name: str) -> list[dict[str, t.Any]]:
        try:
            text = (self.task_dir(name) / ".ctask/sessions.jsonl").read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def summary(self, name: str) -> dict[str, t.Any] | None:
        try:
            return t.cast(dict[str, t.Any], yaml.safe_load((self.task_dir(name) / ".ctask/summary.yaml").read_text()))
        except FileNotFoundError:
            return None

    def events(self, name: str) -> list[dict[str, t.Any]]:
        try:
            text = (self.task_dir(name) / ".ctask/events.jsonl").read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def cleanup(self) -> None:
        """Never raises: kill background processes, the tmux server, temp dirs."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
            for stream in (proc.stdout, proc.stderr):
                with contextlib.suppress(Exception):
                    if stream is not None:
                        stream.close()
        with contextlib.suppress(Exception):
            self.tmux("kill-server")
        shutil.rmtree(self.sock_dir, ignore_errors=True)


AGENT_SCRIPT = """\
import os, sys, time, pathlib
here = pathlib.Path(os.environ.get("CTASK_WORKSPACE", "."))
for arg in sys.argv[1:]:
    if arg.startswith("write="):
        name, _, text = arg[6:].partition(":")
        (here / name).write_text(text)
    elif arg.startswith("sleep="):
        time.sleep(float(arg[6:]))
    elif arg.startswith("wait="):
        path = here / arg[5:]
        while not path.exists():
            time.sleep(0.05)
    elif arg.startswith("exit="):
        sys.exit(int(arg[5:]))
    elif arg.startswith("print="):
        print(arg[6:], flush=True)
"""
