"""Review (SPEC 3.13): checkpoints, content diffs and revert, for both front doors.

Checkpoints are taken at a session's start (of the very manifest that is
its baseline, before the agent runs), at each turn's end (the owner sees
its agent go from ``working`` to ``idle``), at its end (of the manifest its
record is made from), before a revert, and on ``ctask checkpoint``.  Each
runs under the task's ``checkpoints.lock`` (not its write lock: a large
tree's first checkpoint must not hold up heartbeats and commands).

The base of ``diff --patch`` and ``revert`` is, as for ``diff``, the start
of the running session or else of the last one; ``--since``/``--to`` name
another checkpoint.  Files kept by metadata only (over
``snapshot_max_file``, special files) are named in a patch, and a revert
leaves them as they are.
"""

from __future__ import annotations

import contextlib
import typing as t
from pathlib import Path

from ctask_ls.core import checkpoint as checkpoints
from ctask_ls.core import manifest as manifests
from ctask_ls.core import records
from ctask_ls.core.errors import CtaskError, InvalidArgument, TaskBusy
from ctask_ls.core.storage import require_lock

if t.TYPE_CHECKING:
    from ctask_ls.core.checkpoint import Checkpoint
    from ctask_ls.core.context import Context
    from ctask_ls.core.workspace import Workspace

LOCK = "checkpoints.lock"
BINARY_SNIFF = 8000
"""Bytes looked at for a NUL, as git decides a file is binary."""


def take(
    ctx: Context,
    ws: Workspace,
    source: str,
    *,
    manifest: manifests.Manifest | None = None,
    message: str | None = None,
    session_id: str | None = None,
) -> Checkpoint | None:
    """Take a checkpoint of ``ws``'s tree (of ``manifest`` when the caller just captured one)."""
    with require_lock(Path(ws.control(LOCK)), max(ctx.config.lock_timeout, 60.0), what="take a checkpoint"):
        seen = manifest if manifest is not None else ctx.capture(ws, None)
        return _take_locked(ctx, checkpoints.Store(ws), seen, source, message=message, session_id=session_id)


def _take_locked(
    ctx: Context,
    store: checkpoints.Store,
    seen: manifests.Manifest,
    source: str,
    *,
    message: str | None,
    session_id: str | None,
) -> Checkpoint | None:
    """A checkpoint of ``seen`` with the config's limits; the caller holds ``checkpoints.lock``."""
    return store.take(
        seen,
        source=source,
        max_file=ctx.config.snapshot_max_file,
        keep=ctx.config.checkpoint_keep,
        message=message,
        session_id=session_id,
        ignore=ctx.config.ignore,
    )


def take_quietly(
    ctx: Context,
    ws: Workspace,
    source: str,
    *,
    manifest: manifests.Manifest | None = None,
    session_id: str | None = None,
) -> Checkpoint | None:
    """:func:`take` for a session's own checkpoints (start, turn, end): a failure is a warning, never the session's
    end; content diffs and revert then lack that checkpoint."""
    try:
        return take(ctx, ws, source, manifest=manifest, session_id=session_id)
    except (CtaskError, OSError) as exc:
        ctx.say(f"warning: task {ws.name}: no {source} checkpoint ({exc}); `ctask diff --patch` and revert lack it")
        with contextlib.suppress(CtaskError, OSError):
            records.event(ws, "warning", message=f"no {source} checkpoint: {exc}", session_id=session_id)
        return None


def checkpoint(ctx: Context, name: object, message: str | None = None) -> Checkpoint:
    """``ctask checkpoint NAME [-m TEXT]``: one now, even of an unchanged tree."""
    ws, _meta = ctx.load(name)
    cp = take(ctx, ws, "manual", message=message, session_id=current_session(ctx, ws))
    assert cp is not None  # only a turn's checkpoint of an unchanged tree is skipped
    return cp


def listing(ctx: Context, name: object) -> list[Checkpoint]:
    ws, _meta = ctx.load(name)
    return checkpoints.Store(ws).checkpoints()


def current_session(ctx: Context, ws: Workspace) -> str | None:
    """The running session's id, else the last recorded one's (the session ``diff`` compares within)."""
    info = ctx.inspect(ws)
    pane = ctx.pane(ws)
    if pane is not None and not pane.dead and pane.session_id:
        return pane.session_id
    if info.lease is not None:
        return info.lease.session_id
    last = records.read_summary(ws)
    sid = last.get("session_id") if last else None
    return sid if isinstance(sid, str) else None


def base(ctx: Context, ws: Workspace, ref: str | None) -> Checkpoint:
    """The checkpoint ``ref`` names, or the start of the running or last session."""
    store = checkpoints.Store(ws)
    if ref is not None:
        return store.resolve(ref)
    return store.resolve(None, session_id=current_session(ctx, ws))


def patch(ctx: Context, name: object, paths: t.Sequence[str] = (), since: str | None = None) -> tuple[str, Checkpoint]:
    """Unified diffs of the tree now against ``since`` (default: the session's start), and that checkpoint."""
    ws, _meta = ctx.load(name)
    rel = [checkpoints.within(ws, p) for p in paths]
    start = base(ctx, ws, since)
    store = checkpoints.Store(ws)
    with require_lock(Path(ws.control(LOCK)), max(ctx.config.lock_timeout, 60.0), what="compare with a checkpoint"):
        now, only = store.snapshot(ctx.capture(ws, None), ctx.config.snapshot_max_file, ctx.config.ignore)
        text = store.git(
            "diff-tree", "-p", "-r", "--no-renames", "--no-ext-diff", "--no-textconv", start.commit, now, "--", *rel
        ).decode("utf-8", "replace")
    notes = [
        f"# {path}: {why}: kept by metadata only, no content to compare\n"
        for path, why in sorted(only.items())
        if not rel or any(path == r or path.startswith(r.rstrip("/") + "/") for r in rel)
    ]
    return "".join(notes) + text, start


def file_at(ctx: Context, name: object, path: str, ref: str | None = None) -> tuple[str, Checkpoint]:
    """The text of ``path`` in a checkpoint (default: the session's start); InvalidArgument when it has no such
    file or it is binary."""
    ws, _meta = ctx.load(name)
    rel = checkpoints.within(ws, path)
    cp = base(ctx, ws, ref)
    if rel in cp.metadata_only:
        raise InvalidArgument(f"{rel} in checkpoint {cp.n} of task {ws.name}: {cp.metadata_only[rel]}, no content kept")
    found = checkpoints.Store(ws).blob(cp.commit, rel)
    if found is None:
        raise InvalidArgument(f"checkpoint {cp.n} of task {ws.name} has no file {rel} (it did not exist then)")
    return _text(found[1], f"{rel} in checkpoint {cp.n} of task {ws.name}"), cp


def file_now(ctx: Context, name: object, path: str) -> str:
    """The text of ``path`` in the agent's tree as it is now (an editor's right side of a diff when the tree is on
    another host, SPEC 10); InvalidArgument when there is no such file, or it is binary, oversized
    (``snapshot_max_file``, as a checkpoint keeps it) or special.  Every directory on the way is opened without
    following a link, and so is the file: a link the agent planted reads as its target's name, never through."""
    ws, _meta = ctx.load(name)
    rel = checkpoints.within(ws, path)
    content = checkpoints.read_now(ws, rel, ctx.config.snapshot_max_file)
    if content is None:
        raise InvalidArgument(f"task {ws.name} has no file {rel} now (it was deleted, or never was)")
    return _text(content, f"{rel} of task {ws.name}")


def _text(content: bytes, what: str) -> str:
    """``content`` as text for an editor; InvalidArgument naming ``what`` when it is binary."""
    if b"\0" in content[:BINARY_SNIFF]:
        raise InvalidArgument(f"{what} is a binary file ({len(content)} bytes)")
    return content.decode("utf-8", "replace")


def revert(
    ctx: Context, name: object, *, to: str | None = None, paths: t.Sequence[str] = (), force: bool = False
) -> dict[str, t.Any]:
    """``ctask revert``: the tree's files (or ``paths``) back to a checkpoint, after one of the tree as it is."""
    ws, _meta = ctx.load(name)
    rel = [checkpoints.within(ws, p) for p in paths]
    pane = ctx.pane(ws)
    if pane is not None and not pane.dead and not force:
        raise TaskBusy(
            f"task {ws.name}'s agent is running and may be writing these files; stop it first "
            f"(`ctask stop {ws.name}`) or pass --force",
            name=ws.name,
            reason="agent_running",
        )
    target = base(ctx, ws, to)
    store = checkpoints.Store(ws)
    with require_lock(Path(ws.control(LOCK)), max(ctx.config.lock_timeout, 60.0), what="revert"):
        seen = ctx.capture(ws, None)
        before = _take_locked(
            ctx, store, seen, "revert", message=f"before reverting to {target.n}", session_id=current_session(ctx, ws)
        )
        assert before is not None
        done = checkpoints.restore(store, target, before, seen, rel)
    records.event(
        ws,
        "reverted",
        to=target.n,
        before=before.n,
        paths=rel or None,
        deleted=len(done["deleted"]),
        restored=len(done["restored"]),
    )
    return {"task": ws.name, "to": target.to_json(), "before": before.to_json(), **done}
