"""What the front doors show of tasks: ``list``, ``status``, ``last``, ``diff``, ``log`` and the terminal spec.

These change nothing of a task, except that ``list`` and ``status`` first
record a session that ended unowned (SPEC 3.8).  Display reads go through
caches keyed by file identity; no write decision is ever taken from them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import typing as t
from pathlib import Path

from ctask_ls.core import activity as activities
from ctask_ls.core import checkpoint as checkpoints
from ctask_ls.core import gitview, records, timeutil
from ctask_ls.core import lease as leases
from ctask_ls.core import manifest as manifests
from ctask_ls.core import workspace as workspaces
from ctask_ls.core.activity import Activity
from ctask_ls.core.errors import CorruptMetadata, CtaskError, InvalidArgument, NoSession, TaskNotFound
from ctask_ls.core.lease import LeaseInfo
from ctask_ls.core.reconcile import reconcile
from ctask_ls.core.storage import MetadataCache

if t.TYPE_CHECKING:
    from ctask_ls.core.context import Context
    from ctask_ls.core.owned import OwnedSession
    from ctask_ls.core.tmux import PaneState
    from ctask_ls.core.workspace import TaskMeta, Workspace


@dataclasses.dataclass(frozen=True)
class TaskStatus:
    """One task as ``list``/``status`` (and the server) show it."""

    name: str
    workspace: str
    lease: LeaseInfo
    tmux_session: str
    tmux_alive: bool
    meta: TaskMeta | None
    last_summary: dict[str, t.Any] | None
    running: bool
    """A session with a baseline (start manifest) exists."""
    error: CorruptMetadata | None = None
    activity: Activity | None = None
    """What the running session's agent is doing (SPEC 3.10); None without a session."""
    conversation_id: str | None = None
    """The agent's own conversation id, as its hooks reported it (the last session's after it ended)."""

    def to_json(self, *, show_env: bool = False) -> dict[str, t.Any]:
        """The task object; ``agent.env`` shows names only (values :data:`~ctask_ls.core.agent.HIDDEN`)
        unless ``show_env`` (``ctask status NAME --show-env``)."""
        last = None
        if self.last_summary is not None:
            last = {k: v for k, v in records.log_record(self.last_summary).items() if k != "last_lines"}
        data: dict[str, t.Any] = {
            "name": self.name,
            "workspace": self.workspace,
            "lease": self.lease.to_json(),
            "tmux_session": self.tmux_session,
            "tmux_alive": self.tmux_alive,
            "updated_at": timeutil.rfc3339(self.meta.updated_at) if self.meta else None,
            "created_at": timeutil.rfc3339(self.meta.created_at) if self.meta else None,
            "description": self.meta.description if self.meta else None,
            "agent": self.meta.agent.to_mapping(hide_env=not show_env) if self.meta else None,
            "provisional": self.meta.provisional if self.meta else None,
            "repo": self.meta.repo.to_mapping() if self.meta and self.meta.repo else None,
            "last_summary": last,
            "activity": self.activity.to_json() if self.activity is not None else None,
            "conversation_id": self.conversation_id,
        }
        if self.error is not None:
            data["error"] = str(self.error)
        return data


def status(
    ctx: Context,
    name: object,
    *,
    panes: dict[str, PaneState] | None = None,
    reconcile: bool = True,
    cache: MetadataCache | None = None,
) -> TaskStatus:
    """A task's status; reconciles an ended unowned session first."""
    ws = ctx.workspace(name)
    if not os.path.isdir(ws.dir):
        raise TaskNotFound(f"task '{ws.name}' does not exist; create it with `ctask new {ws.name}`", name=ws.name)
    return _status(ctx, ws, panes, reconcile, cache, None)


def _status(
    ctx: Context,
    ws: Workspace,
    panes: dict[str, PaneState] | None,
    reconciling: bool,
    cache: MetadataCache | None,
    present: frozenset[str] | None,
) -> TaskStatus:
    """``present``: the names in the control directory when the caller listed it (saves a stat per file)."""
    cache = cache if cache is not None else ctx.memory_cache
    if panes is None:
        panes = ctx.panes()

    def has(name: str) -> bool:
        return name in present if present is not None else os.path.exists(ws.control(name))

    meta: TaskMeta | None = None
    error: CorruptMetadata | None = None
    try:
        meta = ws.read_meta(cache)
    except CorruptMetadata as exc:
        error = exc
    except TaskNotFound:
        if not ws.tree.is_dir():  # not a task at all
            raise
        error = CorruptMetadata(str(ws.task_yaml), "missing", hint=f"run `ctask repair {ws.name}`")
    running = has("manifest.start.json")
    if reconciling and error is None and running:
        try:
            if reconcile(ctx, ws, panes=panes) is not None:
                panes = ctx.tmux.panes()
            # Recorded here, or meanwhile by another process (the reaper, whose lock we waited for).
            if not ws.manifest_start.exists():
                running, present = False, None
        except CtaskError as exc:
            ctx.say(f"warning: could not reconcile task {ws.name}: {exc}")
    shown = present is None or "lease.yaml" in present
    info = ctx.inspect_shown(ws) if shown else LeaseInfo(leases.MISSING)
    if error is None and info.error is not None:
        error = info.error
    summary, summary_error = records.load_summary_or_none(ws, cache) if has("summary.yaml") else (None, None)
    if error is None and summary_error is not None:
        error = summary_error
    pane = panes.get(ws.tmux_session)
    now_activity, conversation = activity(ctx, ws, pane, hooked=has(activities.FILE))
    return TaskStatus(
        name=ws.name,
        workspace=ws.tree_dir,
        lease=info,
        tmux_session=ws.tmux_session,
        tmux_alive=pane is not None and not pane.dead,
        meta=meta,
        last_summary=summary,
        running=running,
        error=error,
        activity=now_activity,
        conversation_id=conversation,
    )


def activity(
    ctx: Context, ws: Workspace, pane: PaneState | None, *, hooked: bool = True
) -> tuple[Activity | None, str | None]:
    """A task's activity now and its agent's conversation id (SPEC 3.10), from its hooks' record and ``pane``.

    ``pane`` is the task's entry in a ``list-panes`` snapshot the caller
    already has (None: no tmux session); ``hooked=False`` skips reading
    ``activity.json`` when the caller knows there is none.  One small file
    read, nothing else.
    """
    record = activities.read_record(ws) if hooked else None
    now = activities.current(record, pane, idle_after=ctx.config.idle_after)
    if now is not None and now.state == activities.EXITED and not ws.manifest_start.exists():
        now = None  # ``exited`` lasts until the session is recorded (its dead pane may linger a moment)
    return now, record.conversation_id if record is not None else None


def list_tasks(ctx: Context) -> list[TaskStatus]:
    """Every task, one tmux call for all of them and one directory listing per task."""
    panes = ctx.panes()
    cache = metadata_cache(ctx)
    out = []
    tasks_dir = str(ctx.config.tasks_dir)
    for name in ctx.names():
        ws = workspaces.Workspace(tasks_dir, name)  # names() lists real directories only
        try:
            present = frozenset(os.listdir(ws.dir))
        except FileNotFoundError:
            present = frozenset()
        except OSError:
            present = None
        with contextlib.suppress(TaskNotFound):  # removed while we looked
            out.append(_status(ctx, ws, panes, True, cache, present))
    cache.save()
    return out


def metadata_cache(ctx: Context) -> MetadataCache:
    return MetadataCache(ctx.config.home / "cache" / "metadata.json")


def last_task(ctx: Context) -> str:
    """The task updated most recently."""
    best: tuple[float, str] | None = None
    cache = metadata_cache(ctx)
    unreadable = 0
    for name in ctx.names():
        try:
            meta = ctx.workspace(name).read_meta(cache)
        except CtaskError:
            unreadable += 1
            continue
        key = (meta.updated_at.timestamp(), name)
        if best is None or key > best:
            best = key
    cache.save()
    if best is None and unreadable:
        raise TaskNotFound(
            f"no task can be read ({unreadable} with corrupt metadata); `ctask list` shows them and how to repair"
        )
    if best is None:
        raise TaskNotFound("there are no tasks yet; create one with `ctask new NAME`")
    return best[1]


def diff(ctx: Context, name: object) -> dict[str, t.Any]:
    """Live diff against the running session's baseline, else the last summary's.

    A repo task's diff also has ``git``: git's view against the task's
    base (live while a session runs, else the last summary's).
    """
    ws, meta = ctx.load(name)
    try:
        baseline = manifests.Manifest.load(ws.manifest_start)
    except FileNotFoundError:
        baseline = None
    if baseline is not None:
        current = ctx.capture(ws, None)
        d = manifests.diff(baseline, current)
        live: dict[str, t.Any] = {"name": ws.name, "live": True, "session_id": baseline.session_id, **d.to_json()}
        if meta.repo is not None:
            live["git"] = gitview.view(meta.repo)
        live["checkpoint"] = _start_checkpoint(ws, baseline.session_id)
        return live
    summary = records.read_summary(ws)
    if summary is None:
        raise NoSession(f"task {ws.name} has no session yet; start one with `ctask resume {ws.name}`", name=ws.name)
    ended = {
        "name": ws.name,
        "live": False,
        "session_id": summary.get("session_id"),
        **{k: summary.get(k, []) for k in records.FILE_LISTS},
        "counts": summary.get("counts", {}),
        "bytes": summary.get("bytes", {}),
    }
    if isinstance(summary.get("git"), dict):
        ended["git"] = summary["git"]
    sid = summary.get("session_id")
    ended["checkpoint"] = _start_checkpoint(ws, sid if isinstance(sid, str) else None)
    return ended


def _start_checkpoint(ws: Workspace, session_id: str | None) -> int | None:
    """The number of the checkpoint a diff compares against (its session's start), for ``ctask.fileAt``."""
    start = checkpoints.Store(ws).start_of(session_id)
    return start.n if start is not None else None


def log(ctx: Context, name: object, limit: int | None = None) -> tuple[list[dict[str, t.Any]], list[str]]:
    """The task's session records, oldest first, and the log's unreadable lines."""
    ws, _meta = ctx.load(name)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise InvalidArgument("limit must be a non-negative integer")
    return records.read_sessions(ws, limit)


def launch_result(ctx: Context, ws: Workspace, owned: OwnedSession | None, action: str) -> dict[str, t.Any]:
    """``{task, action, session, terminal}``: what a launching command returns (CLI --json and server)."""
    return {
        "task": ws.name,
        "action": action,
        "session": {
            "session_id": owned.session_id if owned else None,
            "tmux_session": ws.tmux_session,
            "lease": ctx.inspect(ws).to_json(),
        },
        "terminal": terminal_spec(ctx, ws),
    }


def terminal_spec(ctx: Context, ws: Workspace) -> dict[str, t.Any]:
    """What an editor runs in its own terminal to attach to the task's session."""
    argv = ctx.tmux.attach_argv(ws.tmux_session)
    cwd = ws.tree_dir
    with contextlib.suppress(CtaskError):
        repo = ws.read_meta().repo
        if repo is not None and Path(repo.worktree).is_dir():
            cwd = repo.worktree
    return {
        "name": f"ctask: {ws.name}",
        "command": argv[0],
        "args": argv[1:],
        "cwd": cwd,
        "env": {"TMUX": ""},
    }
