"""``rm`` (SPEC 3.9): remove a task's workspace, and a repo task's worktree through git first.

Without ``force`` it refuses a leased or running task, and a worktree with
uncommitted changes or with commits that no other branch has.
"""

from __future__ import annotations

import contextlib
import os
import time
import typing as t

from ctask_ls.core import git as gitrepo
from ctask_ls.core.errors import CorruptMetadata, CtaskError, InvalidArgument, TaskBusy, TaskNotFound
from ctask_ls.core.storage import write_lock

if t.TYPE_CHECKING:
    from pathlib import Path

    from ctask_ls.core.context import Context


def remove(
    ctx: Context, name: object, *, force: bool = False, delete_branch: bool = False, dry_run: bool = False
) -> dict[str, t.Any]:
    """Remove a task's workspace; returns ``{removed, workspace, branch?, branch_deleted?, warnings}``.

    ``dry_run``: only the checks (the same errors a removal would raise), then ``{task, removable: true,
    workspace, branch?}``: an editor asks "remove?" only when the answer can be carried out.
    """
    if dry_run not in (True, False):
        raise InvalidArgument("dry_run must be true or false")
    ws = ctx.workspace(name)
    if not ws.root.is_dir():
        raise TaskNotFound(f"task '{ws.name}' does not exist", name=ws.name)
    if delete_branch not in (True, False):
        raise InvalidArgument("delete_branch must be true or false")
    info = ctx.inspect(ws)
    pane = ctx.pane(ws)
    alive = pane is not None and not pane.dead
    provisional = False
    try:
        meta = ws.read_meta()
        repo, provisional = meta.repo, meta.provisional
    except CtaskError:
        if not force:
            raise
        repo = None  # a corrupt task.yaml with --force: the files go, git prunes the worktree later
    if not force:
        if info.fresh and info.lease is not None:
            raise TaskBusy(
                f"task {ws.name} is in use by {info.lease.host} pid {info.lease.pid}; stop it first or pass --force",
                name=ws.name,
                host=info.lease.host,
                pid=info.lease.pid,
                reason="leased",
            )
        if alive:
            raise TaskBusy(
                f"task {ws.name} has a running session; stop it with `ctask stop {ws.name}` or pass --force",
                name=ws.name,
                reason="running",
            )
        if repo is not None and (problem := gitrepo.removal_problem(repo)) is not None:
            raise problem
    if dry_run:
        checked: dict[str, t.Any] = {"task": ws.name, "removable": True, "workspace": ws.tree_dir}
        if repo is not None:
            checked["branch"] = repo.branch
        return checked
    # Under the task's write lock: an owner recording its session's end holds it, so its record is complete
    # before the files go, and one that ends now (the kill below) waits, then finds no task and records
    # nothing.  Should the lock not come within lock_timeout, the removal goes on: the owner then fails to
    # write into a task that is gone, which it also takes as the task removed.  A link or FIFO in place of
    # ``write.lock`` is no lock: it goes with the rest, never followed (removing is how such a task is mended).
    with contextlib.ExitStack() as locked:
        with contextlib.suppress(CorruptMetadata):
            locked.enter_context(write_lock(ws.lock_path, ctx.config.lock_timeout))
        if pane is not None:
            ctx.tmux.kill_session(ws.tmux_session)
        result: dict[str, t.Any] = {"removed": ws.name, "workspace": ws.tree_dir, "warnings": []}
        if repo is not None:
            deleted = False
            try:
                # A task that never ran (a `new` killed half-way) also loses its untouched branch.
                result["warnings"], deleted = gitrepo.remove_worktree(
                    repo, force=force, delete_branch=delete_branch, provisional=provisional
                )
            except CtaskError as exc:
                if not force:
                    raise
                result["warnings"] = [str(exc)]
            result["branch"] = repo.branch
            result["branch_deleted"] = deleted
        elif delete_branch:
            result["warnings"].append(f"task {ws.name} is not on a git repository: no branch to delete")
        _remove_tree(ws.root)
    if repo is not None:
        with contextlib.suppress(CtaskError):
            gitrepo.forget_worktree(repo)  # after a forced rm that git refused
    return result


def _remove_tree(root: Path) -> None:
    """Remove a workspace as one step: rename it out of ``tasks/``, then delete it.

    A dying owner may still write into the workspace while it is deleted
    (``rm --force``); after the rename its writes find no task and fail, and
    nothing can refill the directory being deleted.  Should deleting still
    fail, the leftover is hidden: ``.NAME.removed-...`` is not a task name.
    """
    trash = root.with_name(f".{root.name}.removed-{os.getpid()}-{time.monotonic_ns()}")
    root.rename(trash)
    with contextlib.suppress(OSError):
        delete_tree(trash)
    if trash.exists():
        time.sleep(0.1)
        delete_tree(trash)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW


def delete_tree(path: Path) -> None:
    """Delete the directory ``path`` and everything in it, at any depth, never following a symlink.

    ``shutil.rmtree`` recurses (a tree ten thousand levels deep raises
    RecursionError) and keeps a directory open per level.  Here one directory
    is open at a time: its files are unlinked, then each subdirectory is
    entered (``openat`` with ``O_NOFOLLOW``) and, once empty, left through
    ``..``, which must be the directory it was (device and inode) before the
    emptied one is removed from it.  Raises OSError when something is left.
    """
    fd = os.open(path, _DIR_FLAGS)
    above: list[tuple[tuple[int, int], str, list[str]]] = []
    """Each directory above the one open, outermost first: its device and inode, the name of the
    one entered from it, and its subdirectories still to enter."""
    todo: list[str] = []
    try:
        while True:
            if not todo:  # (again: a writer may have added to it meanwhile)
                with os.scandir(fd) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            todo.append(entry.name)
                        else:
                            with contextlib.suppress(FileNotFoundError):
                                os.unlink(entry.name, dir_fd=fd)
            if todo:  # enter the next subdirectory; come back to this one through its ..
                name = todo.pop()
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    continue
                st = os.fstat(fd)
                above.append(((st.st_dev, st.st_ino), name, todo))
                os.close(fd)
                fd, todo = child, []
                continue
            if not above:
                break
            ident, name, todo = above.pop()
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != ident:
                raise OSError(f"{path}: a directory was moved while it was deleted")
            os.rmdir(name, dir_fd=fd)
    finally:
        os.close(fd)
    path.rmdir()
