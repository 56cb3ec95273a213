"""Issue 14: tmux expanded formats in ``new-session -c``: a repository named ``#(cmd)`` ran ``cmd``.

The agent's start directory reaches tmux as the client's working directory,
never as an argument tmux would expand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gitrepo import IDENTITY, make_repo
from tests.helpers import Env

pytestmark = pytest.mark.timeout(120)


def test_a_repository_named_like_a_tmux_format_runs_nothing(env: Env, agent: list[str], tmp_path: Path) -> None:
    marker = env.home / "pwned"  # `cd` with no argument goes to the tmux server's HOME, the test's
    repo = make_repo(env.vars, tmp_path / "src" / "#(cd;touch pwned)")
    proc = env.run(
        "new", "t1", "--repo", str(repo), "--agent", agent[0], "--", agent[1], "dump=where.json", env=IDENTITY
    )
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists(), "tmux ran a command named by a directory"
    worktree = env.tree("t1") / repo.name
    assert json.loads((worktree / "where.json").read_text())["cwd"] == str(worktree), "the agent starts in its worktree"
