"""Real git repositories in temp directories, for the repo-task tests.

Every git command runs with the test's private HOME (so the user's
``~/.gitconfig`` is never read) and a fixed identity.
"""

from __future__ import annotations

import subprocess
import typing as t
from pathlib import Path

IDENTITY = {
    "GIT_AUTHOR_NAME": "ctask test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "ctask test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}

GIT_AGENT_SCRIPT = """\
import os, subprocess, sys, time, pathlib, json
ws = pathlib.Path(os.environ["CTASK_WORKSPACE"])
for arg in sys.argv[1:]:
    step, _, rest = arg.partition("=")
    if step == "write":
        name, _, text = rest.partition(":")
        path = pathlib.Path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    elif step == "rm":
        pathlib.Path(rest).unlink()
    elif step == "git":
        subprocess.run(["git", *rest.split()], check=True, stdout=subprocess.DEVNULL)
    elif step == "commit":
        subprocess.run(["git", "add", "-A"], check=True)
        subprocess.run(["git", "commit", "-q", "-m", rest], check=True)
    elif step == "wait":
        while not (ws / rest).exists():
            time.sleep(0.05)
    elif step == "dump":
        record = {"cwd": os.getcwd(), "env": dict(os.environ)}
        (ws / rest).write_text(json.dumps(record))
    elif step == "sleep":
        time.sleep(float(rest))
    elif step == "exit":
        sys.exit(int(rest))
"""
"""An agent working in its current directory (the worktree).

Steps: ``write=PATH:TEXT``, ``rm=PATH``, ``git=ARGS`` (space-separated),
``commit=MESSAGE`` (``git add -A`` and commit), ``wait=FLAG`` (until FLAG
exists in the workspace root, outside the worktree), ``dump=FILE`` (cwd and
environment as JSON into the workspace root), ``sleep=S``, ``exit=N``.
"""


def git(env_vars: t.Mapping[str, str], cwd: Path | str, *args: str, check: bool = True) -> str:
    """Run git in ``cwd`` with the test's environment; return stdout."""
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**env_vars, **IDENTITY},
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr}")
    return proc.stdout


def make_repo(env_vars: t.Mapping[str, str], path: Path, files: t.Mapping[str, str] | None = None) -> Path:
    """A repository on branch ``main`` with one commit of ``files``."""
    path.mkdir(parents=True)
    git(env_vars, path, "init", "-q", "-b", "main")
    for name, text in (files or {"README.md": "hello\n", "src/app.py": "print('app')\n"}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(env_vars, path, "add", "-A")
    git(env_vars, path, "commit", "-q", "-m", "initial")
    return path


def branches(env_vars: t.Mapping[str, str], repo: Path) -> list[str]:
    return sorted(git(env_vars, repo, "branch", "--format=%(refname:short)").split())


def worktrees(env_vars: t.Mapping[str, str], repo: Path) -> list[str]:
    """Paths of the repository's worktrees (the main one first)."""
    out = git(env_vars, repo, "worktree", "list", "--porcelain")
    return [line.removeprefix("worktree ") for line in out.splitlines() if line.startswith("worktree ")]


def head(env_vars: t.Mapping[str, str], repo: Path, ref: str = "HEAD") -> str:
    return git(env_vars, repo, "rev-parse", ref).strip()
