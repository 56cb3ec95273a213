"""``new``: create a provisional task (with its git worktree) and launch its agent; a failure leaves no task.

Every check that can fail (name, agent on PATH, tmux, git) runs before a
file is written.  The workspace stays ``provisional`` until the agent runs;
a failure before that removes what this call created, worktree and branch
included, unless the agent already wrote something (see :mod:`.launch`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import typing as t

from ctask_ls.core import git as gitrepo
from ctask_ls.core import workspace as workspaces
from ctask_ls.core.agent import resolve
from ctask_ls.core.errors import CtaskError, InvalidArgument, TaskExists
from ctask_ls.core.git import RepoInfo
from ctask_ls.core.launch import launch

if t.TYPE_CHECKING:
    from ctask_ls.core.agent import ResolvedAgent
    from ctask_ls.core.context import Context
    from ctask_ls.core.owned import OwnedSession
    from ctask_ls.core.workspace import TaskMeta, Workspace

AroundLaunch = t.Callable[["Workspace"], t.ContextManager[object]]


@dataclasses.dataclass(frozen=True, kw_only=True)
class NewTask:
    """What ``ctask new`` (``ctask.new``) asks for."""

    name: object
    agent: str | None = None
    """A one-shot agent command instead of the configured one (a name on PATH or a path)."""
    args: t.Sequence[str] | None = None
    """The agent's arguments, stored in task.yaml."""
    description: str | None = None
    repo: object = None
    """A path in a git repository: the task gets a worktree of it on a new branch."""
    branch: object = None
    base: object = None


def create(ctx: Context, task: NewTask) -> tuple[Workspace, TaskMeta, ResolvedAgent]:
    """Create a provisional workspace and resolve its agent (removed again on failure).

    With ``repo``, the workspace also gets a git worktree of that
    repository on a new branch (see :mod:`ctask_ls.core.git`); every git
    check runs before anything is written.
    """
    ws = ctx.workspace(task.name)
    if ws.root.exists():
        raise TaskExists(
            f"task '{ws.name}' already exists; resume it with `ctask resume {ws.name}` or pick another name",
            name=ws.name,
        )
    if task.repo is None and (task.branch is not None or task.base is not None):
        raise InvalidArgument("branch and base need repo: pass --repo PATH too")
    spec = ctx.config.agent.with_command(task.agent)
    if task.args is not None:
        if not all(isinstance(a, str) and "\0" not in a for a in task.args):
            raise InvalidArgument("agent arguments must be strings without NUL characters")
        spec = dataclasses.replace(spec, args=tuple(task.args))
    resolved = resolve(spec)  # before any file is written
    ctx.tmux.binary()
    info: RepoInfo | None = None
    if task.repo is not None:
        plan = gitrepo.plan(task.repo, ws.name, branch=task.branch, base=task.base)
        info = RepoInfo(
            path=plan.repo,
            branch=plan.branch,
            base=plan.base,
            worktree=str(ws.tree / plan.dirname),
            base_ref=plan.base_ref,
        )
    meta = workspaces.create(ctx.config, ws, spec, description=task.description, repo=info)
    try:
        if info is not None:
            ctx.fault("new.before_worktree")
            try:
                gitrepo.add_worktree(info)
            except CtaskError:  # it undid its own work; what is left in git is not ours
                shutil.rmtree(ws.root, ignore_errors=True)
                raise
            ctx.fault("new.worktree_added")
    except BaseException:
        discard_provisional(ws)
        raise
    return ws, meta, resolved


def new(ctx: Context, task: NewTask, *, around_launch: AroundLaunch | None = None) -> tuple[Workspace, OwnedSession]:
    """``new``: create the task, launch its agent; a failure leaves no task (nor worktree, nor branch).

    ``around_launch`` wraps the launch (the server holds its lease watcher there).
    """
    ws, meta, resolved = create(ctx, task)
    try:
        with around_launch(ws) if around_launch is not None else contextlib.nullcontext():
            owned = launch(ctx, ws, resolved, meta)  # clears provisional once the agent runs
    except BaseException:
        discard_provisional(ws)
        raise
    return ws, owned


def discard_provisional(ws: Workspace) -> None:
    """Remove a workspace that ``new`` created and that never ran (with its worktree and branch)."""
    with contextlib.suppress(OSError, CtaskError):
        meta = ws.read_meta()
        if not meta.provisional:
            return
        if meta.repo is not None:
            gitrepo.discard(meta.repo)
    shutil.rmtree(ws.root, ignore_errors=True)
