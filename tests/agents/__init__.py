"""Agents for tests: honest test agents that follow the real agents' hook contracts, and the real CLIs.

Honest test agents: each module here is a standalone script (standard library only) that
:func:`install` writes into a directory as an executable named like the
agent it plays, so that ctask recognises it by its command name exactly as
it recognises the real one (``core/wiring.py``), and wires it the same way:

- ``claude`` (:mod:`.claude`): takes ``--settings FILE`` and runs the hooks
  configured there, with Claude Code's documented event JSON on stdin, at
  the documented moments;
- ``codex`` (:mod:`.codex`): takes ``-c notify=[...]`` and runs that program
  with Codex's ``agent-turn-complete`` JSON as its last argument at the end
  of each turn;
- ``bursty`` (:mod:`.bursty`): any agent without hooks, bursts of output and
  silences.

All three are driven by lines typed into their tmux pane (``send-keys``);
each module's docstring lists its commands.

The real CLIs (installed in tests/agents_npm by scripts/test-all): :func:`real_agent`;
scripted model APIs for them: :mod:`.fake_anthropic`, :mod:`.fake_openai`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
AGENTS = ("claude", "codex", "bursty")
NPM_DIR = HERE.parent / "agents_npm"
INSTALL = "scripts/test-all (or: cd tests/agents_npm && npm ci)"
REQUIRED = "CTASK_REAL_AGENTS"
"""Set to ``required`` (scripts/test-all does): a missing CLI fails the test instead of skipping it."""


def install(bin_dir: Path) -> Path:
    """Write the test agents into ``bin_dir`` as executables ``claude``, ``codex`` and ``bursty``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in AGENTS:
        target = bin_dir / name
        target.write_text(f"#!{sys.executable}\n" + (HERE / f"{name}.py").read_text())
        target.chmod(0o755)
    return bin_dir


def real_agent(name: str) -> Path:
    """``tests/agents_npm/node_modules/.bin/NAME``; skips the test when it is not installed (fails it in CI)."""
    path = NPM_DIR / "node_modules" / ".bin" / name
    if not os.access(path, os.X_OK):
        why = f"the real {name} CLI is not installed at {path}: run {INSTALL}"
        if os.environ.get(REQUIRED) == "required":
            pytest.fail(why)
        pytest.skip(why)
    return path
