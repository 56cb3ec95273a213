"""Git's view of a repo task for its summary: commits on its branch, what they changed, what is uncommitted.

Read-only: every command runs through :func:`ctask_ls.core.git.run`, with
its hardening, in the worktree's own administrative directory.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from ctask_ls.core import git
from ctask_ls.core.errors import CtaskError, GitError

if t.TYPE_CHECKING:
    from ctask_ls.core.git import RepoInfo


def admin_dirs(info: RepoInfo) -> list[str]:
    """The worktree's administrative directory in the repository (its index, HEAD and reflog: where a
    commit in the worktree shows), or nothing when it has none."""
    admin = git.admin_dir(info)
    return [admin] if admin is not None else []


def view(info: RepoInfo) -> dict[str, t.Any]:
    """Git's view of the task for its summary; ``{error}`` instead of raising."""
    out: dict[str, t.Any] = {"repo": info.path, "branch": info.branch, "worktree": info.worktree, "base": info.base}
    wt = Path(info.worktree)
    try:
        if not wt.is_dir():
            raise GitError(f"the worktree {wt} is gone", reason="failed")
        git_dir = git.worktree_git_dir(info)
        out["head"] = git.run(wt, "rev-parse", "--verify", "HEAD", git_dir=git_dir).stdout.strip()
        log = git.run(wt, "log", "-z", "--reverse", "--format=%H%x00%s", f"{info.base}..HEAD", git_dir=git_dir).stdout
        fields = log.split("\0")
        commits = [
            {"sha": fields[i].strip(), "subject": fields[i + 1]}
            for i in range(0, len(fields) - 1, 2)
            if fields[i].strip()
        ]
        out["commits"] = commits[: git.MAX_LISTED]
        committed = _name_status(git.run(wt, *git.DIFF, "--name-status", info.base, "HEAD", git_dir=git_dir).stdout)
        out["committed"] = committed[: git.MAX_LISTED]
        status = git.run(wt, *git.STATUS, "--untracked-files=all", "--no-renames", git_dir=git_dir).stdout
        uncommitted = [{"status": e[:2].strip() or "?", "path": e[3:]} for e in status.split("\0") if len(e) > 3]
        out["uncommitted"] = uncommitted[: git.MAX_LISTED]
        out["counts"] = {
            "commits": len(commits),
            "committed": len(committed),
            "uncommitted": len(uncommitted),
        }
    except CtaskError as exc:
        out["error"] = str(exc)
    return out


def _name_status(text: str) -> list[dict[str, str]]:
    fields = text.split("\0")
    return [{"status": fields[i], "path": fields[i + 1]} for i in range(0, len(fields) - 1, 2) if fields[i]]
