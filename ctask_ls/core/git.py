"""Tasks on a git repository: one worktree and one branch per task.

``ctask new NAME --repo PATH`` gives the task a git worktree of PATH inside
its tree (``work/``), on a new branch (default ``ctask/NAME``) started from a base
ref (default PATH's HEAD).  The agent starts in the worktree, so parallel
agents on one repository never share a checkout.

Decisions (the issue leaves them open):

- The worktree is ``<task>/work/<name of the repository's top-level
  directory>`` (``repo`` if that name is ``.`` or ``..``), so a user in the
  tree sees the repository under its own name; the task's control files
  are outside the tree, where the agent cannot reach them.
- ``--repo`` may name any directory inside the repository; the repository's
  main worktree is recorded, also when PATH is inside a linked worktree
  (another task's, say), so removing that one never orphans this task.
- Every check that can fail runs before anything is written; a failure
  after that removes what ``new`` created (workspace, worktree, branch).
- The summary's git view compares against the task's base commit, so it is
  cumulative over the task's sessions: ``commits`` are ``base..HEAD`` on the
  task's branch, ``committed`` is ``git diff --name-status base HEAD``, and
  ``uncommitted`` is ``git status`` of the worktree (untracked files too).
- ``ctask rm`` refuses a worktree with uncommitted changes or with commits
  that no other branch has, unless ``--force``; it keeps the branch unless
  ``--delete-branch``.

Only this module runs git; it calls the ``git`` found on PATH with a
timeout, never through a shell, and with ``GIT_TERMINAL_PROMPT=0`` and no
pager or editor so that a git command never waits for a person.

Hardening (SPEC 9: git that ctask runs never executes a program the agent
named).  The agent may write anything in its worktree, including its ``.git``
file (a forged ``.git`` directory with its own config, or a ``gitdir:`` line
pointing into the agent's tree), and a ``git config`` it runs there writes the
repository's shared config.  So:

- Every call is ``git --no-pager`` with :data:`SAFE_CONFIG` on the command
  line (``-c`` wins over every config file, and git passes it on to the git
  processes it starts itself): ``core.fsmonitor=false`` (the fsmonitor
  program ``status`` runs), ``core.hooksPath=/dev/null`` (every hook:
  ``post-checkout`` on ``worktree add``, ``reference-transaction`` on
  ``worktree add -b`` and ``branch -D``, and the rest), and
  ``log.showSignature=false`` (``gpg.program`` on ``log``).  The pager is
  ``cat`` and the editor ``true`` whatever the config says.
- Commands in a task's worktree never trust its ``.git``: they run with
  ``--git-dir`` set to the worktree's administrative directory, found from
  the task's repository (``<common dir>/worktrees/<id>``, the one whose
  ``gitdir`` names this worktree), and ``--work-tree``.  A worktree that the
  repository does not list that way is an error, not a repository to run in.
- ``diff`` runs with ``--no-ext-diff --no-textconv`` (``diff.external``,
  ``diff.<driver>.command`` and ``.textconv``), ``status`` with
  ``--ignore-submodules=all``: git would otherwise run ``git status`` inside
  each submodule, whose ``.git`` the agent controls.
- Not overridden, on purpose: filter drivers (``filter.<name>.clean``,
  ``smudge``, ``process``: no ``-c`` disables every driver name), which
  ``status`` may run to re-hash a file and ``worktree add`` runs on checkout.
  With the agent's config out of reach, only drivers defined in the user's
  own config (git-lfs, say) can run, chosen by ``.gitattributes``.  Network
  settings (``core.sshCommand``, ``protocol.*``, credential helpers) matter
  only to a lazy fetch of a partial clone's ``worktree add``, which uses the
  user's repository config as the user's own git would.
  ``core.untrackedCache`` runs nothing and is left as configured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import typing as t
from pathlib import Path

from ctask_ls.core.errors import CtaskError, GitError, GitNotFound, InvalidArgument

TIMEOUT = 60.0
"""Seconds any git command may take, except the checkout of a new worktree."""
CHECKOUT_TIMEOUT = 1800.0
"""``git worktree add`` checks out the whole tree: a large repository takes minutes."""
MAX_LISTED = 500
"""At most this many commits or paths per list in a summary (the rest are counted)."""


@dataclasses.dataclass(frozen=True)
class RepoInfo:
    """The ``repo`` mapping of a repo task's ``task.yaml``."""

    path: str
    """The repository's main worktree (absolute), also when ``--repo`` named a linked one."""
    branch: str
    base: str
    """The full commit id the branch started from."""
    worktree: str
    """The worktree's directory inside the workspace (absolute)."""
    base_ref: str = "HEAD"
    """What the user asked for (``--base``), as typed."""

    def to_mapping(self) -> dict[str, t.Any]:
        return {
            "path": self.path,
            "branch": self.branch,
            "base": self.base,
            "base_ref": self.base_ref,
            "worktree": self.worktree,
        }

    @classmethod
    def from_mapping(cls, data: object) -> RepoInfo:
        if not isinstance(data, dict):
            raise ValueError("repo must be a mapping of path, branch, base and worktree")
        values: dict[str, str] = {}
        for key in ("path", "branch", "base", "worktree"):
            value = data.get(key)
            if not isinstance(value, str) or not value:
                raise ValueError(f"repo.{key} must be a non-empty string")
            values[key] = value
        base_ref = data.get("base_ref", "HEAD")
        if not isinstance(base_ref, str):
            raise ValueError("repo.base_ref must be a string")
        return cls(base_ref=base_ref, **values)


@dataclasses.dataclass(frozen=True)
class Plan:
    """What ``new --repo`` will create, checked before anything is written."""

    repo: str
    branch: str
    base: str
    base_ref: str
    dirname: str


def binary() -> str:
    found = shutil.which("git")
    if found is None:
        raise GitNotFound("git is not installed or not on PATH; install git (e.g. `apt-get install git`)")
    return found


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_TERMINAL_PROMPT="0", GIT_PAGER="cat", GIT_EDITOR="true", LC_ALL="C")
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR"):
        env.pop(key, None)  # a caller inside a git hook must not redirect us to its repository
    return env


SAFE_CONFIG: tuple[str, ...] = ("core.fsmonitor=false", "core.hooksPath=/dev/null", "log.showSignature=false")
"""Config on every git command line: keys that would make git run a program (see the module's docstring)."""
STATUS = ("--no-optional-locks", "status", "--porcelain", "-z", "--ignore-submodules=all")
"""``status`` never looks inside submodules (git would run ``git status`` in them, with their own ``.git``),
and never rewrites the index to refresh it: a look writes nothing (the server's watch of the tree would
otherwise see its own look as a change)."""
DIFF = ("diff", "--no-ext-diff", "--no-textconv", "-z", "--no-renames")
"""``diff`` runs no external diff or textconv program."""


def run(
    cwd: str | Path,
    *args: str,
    check: bool = True,
    timeout: float = TIMEOUT,
    git_dir: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``git -C cwd ARGS``; raise :class:`GitError` (reason ``failed``) when ``check`` and it fails.

    ``git_dir``: run with ``--git-dir=GIT_DIR --work-tree=CWD`` instead of
    finding the repository from ``cwd`` (see :func:`worktree_git_dir`).
    """
    hardening = [opt for pair in SAFE_CONFIG for opt in ("-c", pair)]
    pinned = [f"--git-dir={git_dir}", f"--work-tree={cwd}"] if git_dir is not None else []
    argv = [binary(), "--no-pager", *hardening, "-C", str(cwd), *pinned, *args]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, errors="surrogateescape", env=_env(), timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"`git {' '.join(args)}` did not finish in {timeout:.0f} s in {cwd}", reason="failed") from exc
    except OSError as exc:
        raise GitError(f"could not run git in {cwd}: {exc.strerror or exc}", reason="failed") from exc
    if check and proc.returncode != 0:
        raise GitError(f"`git {' '.join(args)}` failed in {cwd}: {_first_line(proc.stderr)}", reason="failed")
    return proc


PLUMBING_TIMEOUT = 600.0
"""Seconds a checkpoint's git command may take (the first of a 100,000-file tree hashes all of it)."""


def plumbing(
    cwd: str,
    args: t.Sequence[str],
    *,
    env: t.Mapping[str, str],
    config: t.Sequence[str] = (),
    input: bytes | None = None,
    timeout: float = PLUMBING_TIMEOUT,
    allow_failure: bool = False,
) -> bytes:
    """Run ``git ARGS`` in ``cwd`` with ``env`` added (``GIT_DIR``, ``GIT_INDEX_FILE``: a checkpoint store's, never
    the user's) and ``config`` after :data:`SAFE_CONFIG`; its stdout as bytes, or a :class:`GitError`."""
    hardening = [opt for pair in (*SAFE_CONFIG, *config) for opt in ("-c", pair)]
    argv = [binary(), "--no-pager", *hardening, *args]
    try:
        proc = subprocess.run(
            argv, cwd=cwd, input=input, capture_output=True, env={**_env(), **env}, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"`git {args[0]}` did not finish in {timeout:.0f} s in {cwd}", reason="failed") from exc
    except OSError as exc:
        raise GitError(f"could not run git in {cwd}: {exc.strerror or exc}", reason="failed") from exc
    if proc.returncode != 0 and not allow_failure:
        err = proc.stderr.decode("utf-8", "replace")
        raise GitError(f"`git {args[0]}` failed in {cwd}: {_first_line(err)}", reason="failed")
    return proc.stdout


def admin_dir(info: RepoInfo) -> str | None:
    """The administrative directory of the task's worktree in its repository, None if it has none.

    Found from the repository, never from the worktree's ``.git`` (which the
    agent may have replaced): the ``<common dir>/worktrees/<id>`` whose
    ``gitdir`` file names ``<worktree>/.git``.
    """
    common = run(info.path, "rev-parse", "--git-common-dir", check=False)
    if common.returncode != 0 or not common.stdout.strip():
        return None
    admin = Path(info.path, common.stdout.strip("\n")) / "worktrees"
    want = os.path.join(os.path.realpath(info.worktree), ".git")
    try:
        entries = list(os.scandir(admin))
    except OSError:
        return None
    for entry in entries:
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            with open(os.path.join(entry.path, "gitdir"), "rb") as fh:
                named = fh.read(8192).decode("utf-8", "surrogateescape").strip("\n")
        except OSError:
            continue
        if named == want:
            return os.path.realpath(entry.path)
    return None


def worktree_git_dir(info: RepoInfo) -> str:
    """:func:`admin_dir`, or a :class:`GitError` saying the worktree is no longer the repository's."""
    admin = admin_dir(info)
    if admin is None:
        raise GitError(
            f"the worktree {info.worktree} is not a worktree of {info.path} any more; "
            f"see `git -C {info.path} worktree list`",
            reason="failed",
            repo=info.path,
        )
    return admin


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line.removeprefix("fatal: ").removeprefix("error: ")
    return "no message"


def default_branch(name: str) -> str:
    return f"ctask/{name}"


def plan(path: object, name: str, *, branch: object = None, base: object = None) -> Plan:
    """Check PATH, BRANCH and BASE against git; write nothing."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise InvalidArgument("repo must be the path of a git repository")
    for what, value in (("branch", branch), ("base", base)):
        if value is not None and (not isinstance(value, str) or not value or "\0" in value or "\n" in value):
            raise InvalidArgument(f"{what} must be a non-empty string on one line")
    binary()
    where = Path(path).expanduser()
    if not where.is_dir():
        raise GitError(
            f"{path} is not a directory; pass --repo the path of a git repository", reason="not_a_repository"
        )
    where = where.resolve()
    top = run(where, "rev-parse", "--show-toplevel", check=False)
    if top.returncode != 0 or not top.stdout.strip():
        raise GitError(
            f"{where} is not inside a git repository ({_first_line(top.stderr)}); "
            "pass --repo the path of a git repository, or `git init` it first",
            reason="not_a_repository",
            repo=str(where),
        )
    repo = _main_worktree(top.stdout.strip())
    br = t.cast(str, branch) if branch is not None else default_branch(name)
    check = run(repo, "check-ref-format", "--branch", br, check=False)
    if check.returncode != 0 or br.startswith("-"):
        raise GitError(f"'{br}' is not a valid git branch name; pass --branch NAME", reason="bad_branch", repo=repo)
    if run(repo, "show-ref", "--verify", "--quiet", f"refs/heads/{br}", check=False).returncode == 0:
        raise GitError(
            f"branch '{br}' already exists in {repo}; pass --branch with a new name, "
            f"or delete it with `git -C {repo} branch -D {br}`",
            reason="branch_exists",
            repo=repo,
            branch=br,
        )
    ref = t.cast(str, base) if base is not None else "HEAD"
    resolved = (
        run(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
        if not ref.startswith("-")
        else None
    )
    if resolved is None or resolved.returncode != 0 or not resolved.stdout.strip():
        if base is None:
            raise GitError(
                f"{repo} has no commits yet; commit something first, or pass --base REF", reason="bad_ref", repo=repo
            )
        raise GitError(
            f"'{ref}' is not a commit in {repo}; pass --base a branch, tag or commit that exists",
            reason="bad_ref",
            repo=repo,
            ref=ref,
        )
    dirname = Path(repo).name
    if dirname in ("", ".", ".."):
        dirname = "repo"
    return Plan(repo=repo, branch=br, base=resolved.stdout.strip(), base_ref=ref, dirname=dirname)


def _main_worktree(top: str) -> str:
    """The repository's main worktree, also when ``top`` is a linked one (another task's, say).

    Recording the main worktree keeps a task independent of the worktree it
    was started from: removing that one later does not orphan this task.
    """
    listed = _worktrees(top)
    if not listed or listed[0][1] or not Path(listed[0][0]).is_dir():
        return top  # a bare repository's linked worktree: the one given is the only checkout there is
    return listed[0][0]


def _worktrees(cwd: str) -> list[tuple[str, bool]]:
    """``git worktree list --porcelain``: each worktree's path and whether it is bare, the main one first."""
    found: list[tuple[str, bool]] = []
    for line in run(cwd, "worktree", "list", "--porcelain", check=False).stdout.splitlines():
        if line.startswith("worktree "):
            found.append((line.removeprefix("worktree "), False))
        elif line == "bare" and found:
            found[-1] = (found[-1][0], True)
    return found


def add_worktree(info: RepoInfo) -> None:
    """``git worktree add -b BRANCH WORKTREE BASE``; undo a half-made one on failure.

    The branch is deleted again only when this call created it: a branch that
    appeared in between (another ``new`` racing for the same ``--branch``)
    belongs to someone else.
    """
    worktree = Path(info.worktree)
    proc = run(
        info.path,
        "worktree",
        "add",
        "--quiet",
        "-b",
        info.branch,
        str(worktree),
        info.base,
        check=False,
        timeout=CHECKOUT_TIMEOUT,
    )
    if proc.returncode == 0:
        return
    message = _first_line(proc.stderr)
    if "already exists" in message and info.branch in message and str(worktree) not in message:
        raise GitError(
            f"branch '{info.branch}' already exists in {info.path}; pass --branch with a new name",
            reason="branch_exists",
            repo=info.path,
            branch=info.branch,
        )
    if "already registered" in message or "already exists" in message:
        _delete_new_branch(info)  # the path belongs to someone else: leave it alone
        raise GitError(
            f"the worktree path {worktree} is taken in {info.path} ({message}); "
            f"run `git -C {info.path} worktree prune` and try again",
            reason="worktree_taken",
            repo=info.path,
        )
    discard(info)
    raise GitError(f"git could not create the worktree {worktree}: {message}", reason="failed", repo=info.path)


def discard(info: RepoInfo) -> None:
    """Remove the worktree and branch of a task that never ran (never raises)."""
    with contextlib.suppress(CtaskError):
        _remove_registered(info, force=True)
        _delete_new_branch(info)


def _remove_registered(info: RepoInfo, *, force: bool) -> subprocess.CompletedProcess[str] | None:
    """``git worktree remove`` of the task's worktree; a registered but missing one is pruned.

    Only the task's own worktree is touched: ``git worktree prune`` runs only
    when that one is registered and its directory is gone.
    """
    worktree = Path(info.worktree)
    if worktree.exists():
        return run(
            info.path, "worktree", "remove", *(["--force", "--force"] if force else []), str(worktree), check=False
        )
    if any(path == str(worktree) for path, _bare in _worktrees(info.path)):
        run(info.path, "worktree", "prune", check=False)
    return None


def _delete_new_branch(info: RepoInfo) -> bool:
    """Delete the task's branch if it still points at the base: nobody committed on it.

    ``git branch -D`` also refuses a branch checked out in another worktree.
    """
    tip = run(info.path, "rev-parse", "--verify", "--quiet", f"refs/heads/{info.branch}", check=False)
    if tip.returncode != 0 or tip.stdout.strip() != info.base:
        return False
    return run(info.path, "branch", "-D", "--end-of-options", info.branch, check=False).returncode == 0


def forget_worktree(info: RepoInfo) -> None:
    """Unregister the task's worktree if its directory is gone (after ``rm --force``)."""
    if Path(info.path).is_dir():
        _remove_registered(info, force=True)


# -- rm -------------------------------------------------------------------------------------------


def removal_problem(info: RepoInfo) -> GitError | None:
    """Why ``rm`` without ``--force`` must refuse: uncommitted changes or unmerged commits."""
    wt = Path(info.worktree)
    if not Path(info.path).is_dir():
        return GitError(
            f"the task's repository {info.path} is gone; pass --force to remove the task and its worktree files",
            reason="repo_missing",
            repo=info.path,
        )
    if not wt.is_dir():
        return None
    try:
        status = run(wt, *STATUS, "--untracked-files=normal", check=False, git_dir=worktree_git_dir(info))
    except GitError as exc:
        return GitError(f"{exc}; pass --force to remove it anyway", reason="failed", repo=info.path)
    if status.returncode != 0:
        return GitError(
            f"git cannot read the worktree {wt} ({_first_line(status.stderr)}); pass --force to remove it anyway",
            reason="failed",
            repo=info.path,
        )
    changed = [e for e in status.stdout.split("\0") if e]
    if changed:
        return GitError(
            f"the worktree {wt} has {len(changed)} uncommitted change(s); commit or discard them, "
            "or pass --force to remove it anyway",
            reason="dirty",
            repo=info.path,
        )
    unmerged = unmerged_commits(info)
    if unmerged:
        return GitError(
            f"branch '{info.branch}' has {unmerged} commit(s) that no other branch has; merge them, "
            "or pass --force (the branch and its commits are kept unless --delete-branch)",
            reason="unmerged",
            repo=info.path,
            branch=info.branch,
        )
    return None


def unmerged_commits(info: RepoInfo) -> int:
    """Commits on the task's branch that no other local branch contains (0 if the branch is gone)."""
    ref = f"refs/heads/{info.branch}"
    if run(info.path, "show-ref", "--verify", "--quiet", ref, check=False).returncode != 0:
        return 0
    # --exclude before --branches takes the name without refs/heads/ (git-rev-list(1)).
    proc = run(info.path, "rev-list", "--count", ref, "--not", f"--exclude={info.branch}", "--branches")
    return int(proc.stdout.strip() or 0)


def remove_worktree(
    info: RepoInfo, *, force: bool, delete_branch: bool, provisional: bool = False
) -> tuple[list[str], bool]:
    """Remove the task's worktree with git (and its branch if asked).

    The branch of a ``provisional`` task (one that never ran) goes too when
    nobody committed on it.  Returns the warnings and whether the branch was
    deleted.  Raises :class:`GitError` when git refuses to remove the worktree.
    """
    warnings: list[str] = []
    wt = Path(info.worktree)
    if not Path(info.path).is_dir():
        warnings.append(f"repository {info.path} is gone; removed the worktree's files only")
        return warnings, False
    proc = _remove_registered(info, force=force)
    if proc is not None and proc.returncode != 0:
        raise GitError(
            f"git could not remove the worktree {wt}: {_first_line(proc.stderr)}", reason="failed", repo=info.path
        )
    if not delete_branch:
        return warnings, provisional and _delete_new_branch(info)
    proc = run(info.path, "branch", "-D", "--end-of-options", info.branch, check=False)
    if proc.returncode != 0:
        warnings.append(f"branch '{info.branch}' was not deleted: {_first_line(proc.stderr)}")
        return warnings, False
    return warnings, True
