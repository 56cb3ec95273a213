""":checkhealth ctask in headless Neovim: each piece found, and an error with its fix for each missing one."""

from __future__ import annotations

import sys
import typing as t

from tests.helpers import BIN, REPO

if t.TYPE_CHECKING:
    from tests.helpers import Env
    from tests.nvim.conftest import Nvim


def _report(nvim: Nvim, cmd: list[str] | None = None, path: str | None = None) -> str:
    run = nvim.run("health.lua", {"cmd": cmd} if cmd else {}, env={"PATH": path} if path else None)
    assert run.returncode == 0, run.explain()
    lines: list[str] = run.result["lines"]
    return "\n".join(lines)


def test_checkhealth_all_present(nvim: Nvim, env: Env) -> None:
    report = _report(nvim)
    assert "OK Neovim 0.11." in report
    assert f"OK ctask-ls found: {BIN / 'ctask-ls'}" in report
    assert "OK ctask-ls starts and answers" in report
    assert "OK tmux found: " in report
    assert "OK git found: " in report
    assert "ERROR" not in report


def test_checkhealth_without_tmux_on_path(nvim: Nvim, env: Env) -> None:
    # Only the venv's bin on PATH: ctask-ls is there, tmux is not.
    report = _report(nvim, path=str(BIN))
    assert "ERROR tmux not found on PATH" in report
    assert "apt-get install tmux" in report
    assert "WARNING git not found on PATH: only needed for tasks on a git repository" in report
    assert "OK ctask-ls found" in report
    assert "OK ctask-ls starts and answers" in report


def test_checkhealth_server_missing_or_broken(nvim: Nvim, env: Env) -> None:
    missing = _report(nvim, cmd=["ctask-ls-not-installed"])
    assert "ERROR ctask-ls not found: `ctask-ls-not-installed` is not an executable on PATH" in missing
    assert f"Install it from the ctask_ls repository: `pipx install {REPO}`" in missing
    broken = _report(nvim, cmd=[sys.executable, "-c", "import sys; sys.exit(3)"])
    assert "ERROR ctask-ls does not start: " in broken
    assert "exited with code 3" in broken
    assert ":LspLog" in broken
