"""Running commands and npm for the VS Code tests."""

from __future__ import annotations

import os
import subprocess
import sys
import typing as t
from pathlib import Path


def run(
    argv: t.Sequence[str], *, cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ARGV to its end with no stdin; output captured as text."""
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def must(proc: subprocess.CompletedProcess[str], what: str) -> None:
    """Fail the test with the command's output when it failed."""
    if proc.returncode != 0:
        raise AssertionError(f"{what} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")


def npm_env() -> dict[str, str]:
    return {
        **os.environ,
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        "npm_config_update_notifier": "false",
    }


def ci_if_stale(directory: Path) -> bool:
    """``npm ci`` in DIRECTORY unless its node_modules was installed from the current package-lock.json.

    npm writes ``node_modules/.package-lock.json`` on every install; when it is
    newer than ``package-lock.json`` the tree is current (scripts/test-all has
    just run ``npm ci`` there).  Returns whether ``npm ci`` ran.
    """
    marker = directory / "node_modules" / ".package-lock.json"
    lock = directory / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return False
    print(f"[vscode] npm ci in {directory}", file=sys.stderr, flush=True)
    must(
        run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=directory, env=npm_env()),
        f"npm ci in {directory}",
    )
    return True
