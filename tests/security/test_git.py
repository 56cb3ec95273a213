"""Issue 14, "git runs what the agent's config names": ctask's own git never executes the agent's programs (SPEC 9).

The agent of a repo task writes git configuration naming a program of its own
(``core.fsmonitor``, hooks) and leaves; ctask then reads the worktree with git
at session end, for ``status`` and ``diff``, and removes the task with its
branch.  Real git, real tmux on the test's private socket, the real ``ctask``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.gitrepo import IDENTITY, branches, make_repo
from tests.helpers import Env

pytestmark = pytest.mark.timeout(180)

HOOK_NAMES = ("post-checkout", "reference-transaction", "pre-auto-gc", "post-index-change", "pre-commit", "post-commit")

ATTACK = """\
import os, pathlib, stat, subprocess, sys, time
variant, marker = sys.argv[1], sys.argv[2]
here = pathlib.Path.cwd()
evil = here / ".attack" / "evil"
evil.parent.mkdir()
evil.write_text(f"#!/bin/sh\\necho \\"$0 $*\\" >> {marker}\\nexit 0\\n")
evil.chmod(0o755)
hooks = here / ".attack" / "hooks"
hooks.mkdir()
for name in sys.argv[3:]:
    (hooks / name).symlink_to(evil)
def git(*args):
    subprocess.run(["git", *args], check=True, stdout=subprocess.DEVNULL)
if variant == "forged_git_dir":
    # The worktree's .git file becomes a repository of the agent's own.
    (here / ".git").unlink()
    git("init", "-q", ".")
    git("add", "-A")
    git("commit", "-q", "-m", "forged")
    git("config", "core.fsmonitor", str(evil))
    git("config", "core.hooksPath", str(hooks))
else:
    # git config in a linked worktree writes the repository's shared config (and its config.worktree).
    git("config", "core.fsmonitor", str(evil))
    git("config", "core.hooksPath", str(hooks))
    git("config", "extensions.worktreeConfig", "true")
    git("config", "--worktree", "core.fsmonitor", str(evil))
    git("config", "--worktree", "core.hooksPath", str(hooks))
(here / "work.txt").write_text("done\\n")
time.sleep(0.6)
"""


@pytest.mark.parametrize("variant", ["forged_git_dir", "repo_config"])
def test_git_config_written_by_the_agent_never_runs_a_program(env: Env, tmp_path: Path, variant: str) -> None:
    repo = make_repo(env.vars, tmp_path / "project")
    attack = tmp_path / "attack.py"
    attack.write_text(ATTACK)
    marker = env.root / "marker"

    def ctask(*args: str) -> str:
        proc = env.run(*args, env=IDENTITY)
        return f"ctask {' '.join(args)} -> {proc.returncode}: {proc.stderr.strip()}"

    ran = [
        ctask(
            "new",
            "t1",
            "--repo",
            str(repo),
            "--agent",
            sys.executable,
            "--",
            str(attack),
            variant,
            str(marker),
            *HOOK_NAMES,
        ),
        ctask("status", "t1"),
        ctask("diff", "t1"),
        ctask("rm", "t1"),
        ctask("rm", "--force", "--delete-branch", "t1"),
    ]
    assert not marker.exists(), f"git ran the agent's program: {marker.read_text()!r} ({ran})"
    assert " -> 0:" in ran[0] and " -> 0:" in ran[-1], ran
    assert not env.task_dir("t1").exists()
    if variant == "repo_config":  # no hook of the agent's aborted `branch -D` (git refuses a forged worktree)
        safe_git = {**env.vars, "GIT_CONFIG_PARAMETERS": "'core.hooksPath'='/dev/null' 'core.fsmonitor'='false'"}
        assert branches(safe_git, repo) == ["main"], ran
