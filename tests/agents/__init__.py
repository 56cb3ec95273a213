"""The real agent CLIs (installed in tests/agents_npm by scripts/test-all) and scripted model APIs for them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NPM_DIR = Path(__file__).resolve().parent.parent / "agents_npm"
INSTALL = "scripts/test-all (or: cd tests/agents_npm && npm ci)"
REQUIRED = "CTASK_REAL_AGENTS"
"""Set to ``required`` (scripts/test-all does): a missing CLI fails the test instead of skipping it."""


def real_agent(name: str) -> Path:
    """``tests/agents_npm/node_modules/.bin/NAME``; skips the test when it is not installed (fails it in CI)."""
    path = NPM_DIR / "node_modules" / ".bin" / name
    if not os.access(path, os.X_OK):
        why = f"the real {name} CLI is not installed at {path}: run {INSTALL}"
        if os.environ.get(REQUIRED) == "required":
            pytest.fail(why)
        pytest.skip(why)
    return path
