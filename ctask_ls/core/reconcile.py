"""Reconciliation (SPEC 3.8): record a session that ended while nobody owned it, so that none ends unrecorded.

A workspace with a start manifest, no fresh lease and a session that has
ended (tmux session gone or its agent's pane dead) is recorded here with
``session_ownership: unowned``.  ``list``, ``status``, ``stop``, a launch and
the server's poll tick all come through here.
"""

from __future__ import annotations

import contextlib
import time
import typing as t

from ctask_ls.core import activity as activities
from ctask_ls.core import manifest as manifests
from ctask_ls.core import markers, records, timeutil
from ctask_ls.core.errors import CorruptMetadata, CtaskError
from ctask_ls.core.finalize import EndReason, EndState, SessionFacts, record
from ctask_ls.core.storage import keep_aside, write_lock

if t.TYPE_CHECKING:
    import datetime as dt

    from ctask_ls.core.context import Context
    from ctask_ls.core.lease import Lease
    from ctask_ls.core.tmux import PaneState
    from ctask_ls.core.workspace import TaskMeta, Workspace


def reconcile(ctx: Context, ws: Workspace, *, panes: dict[str, PaneState] | None = None) -> dict[str, t.Any] | None:
    """Finalize a session that ended while nobody owned it; None if there is none."""
    if not ws.manifest_start.exists():
        return None
    if panes is None:
        panes = ctx.panes()
    pane = panes.get(ws.tmux_session)
    if pane is not None and not pane.dead:
        return None
    info = ctx.inspect(ws)
    if info.fresh or info.error is not None:
        return None
    with write_lock(ws.lock_path, ctx.config.lock_timeout) as held:
        if not held:
            return None
        return finalize_unowned(ctx, ws, EndReason.ENDED_UNOWNED, "reconcile")


def finalize_unowned(ctx: Context, ws: Workspace, reason: EndReason, detected_via: str) -> dict[str, t.Any] | None:
    """Finalize with no owner; the caller holds the write lock."""
    info = ctx.inspect(ws)
    if info.fresh or info.error is not None:
        return None
    corrupt: CorruptMetadata | None = None
    try:
        baseline = manifests.Manifest.load(ws.manifest_start)
    except FileNotFoundError:
        return None
    except CorruptMetadata as exc:
        baseline, corrupt = manifests.Manifest({}), exc
    pane = ctx.tmux.pane(ws.tmux_session)
    if pane is not None and not pane.dead and reason is EndReason.ENDED_UNOWNED:
        return None
    if corrupt is not None:
        manifest_aside(ctx, ws, corrupt, "recorded the session without a baseline", move=False)
    if pane is None and not markers.launched(ws, baseline.session_id):
        # The launcher died before tmux ran the agent: not a session, nothing to record.
        with contextlib.suppress(FileNotFoundError):  # the environment it may have written for the agent
            ws.launch_env.unlink()
        with contextlib.suppress(FileNotFoundError):
            ws.manifest_start.unlink()
        ctx.release_lease(ws, None, reason="the launcher died first", log=False)
        with contextlib.suppress(FileNotFoundError):
            ws.stop_marker.unlink()
        records.event(ws, "launch_failed", session_id=baseline.session_id, reason="the launcher died first")
        return None
    stop = markers.stop_requested(ws, baseline.session_id or (pane.session_id if pane else None))
    gone_at: dt.datetime | None = None
    if stop is not None:
        reason = EndReason.STOPPED
    elif pane is None and ctx.tmux.server_gone():
        reason = EndReason.TMUX_SERVER_GONE
        gone_at = last_seen(ws, info.lease)
    # The session id, even without a readable baseline: a rerun after a crash must find the same record.
    sid = (
        baseline.session_id
        or (pane.session_id if pane else None)
        or markers.launched_sid(ws)
        or f"{ctx.host}-unknown-{int(time.time())}"
    )
    meta = _meta_or_none(ws)
    end = EndState(
        reason, pane, detected_via=detected_via, ended_at=markers.stop_time(stop) if stop is not None else gone_at
    )
    if stop is not None and stop.get("last_lines"):
        end.last_lines = list(stop["last_lines"])
    facts = SessionFacts(
        session_id=sid,
        baseline=baseline,
        baseline_kind="original" if corrupt is None else "none",
        started_at=_parse_or_now(baseline.captured_at),
        agent=(info.lease.agent if info.lease else None) or (meta.agent.command if meta else "unknown"),
        mode="persistent",
        ownership="unowned",
        repo=meta.repo if meta else None,
    )
    return record(ctx, ws, facts, end)


def last_seen(ws: Workspace, lease: Lease | None) -> dt.datetime | None:
    """When a session whose tmux server went away was last known to run: its last heartbeat, or its hooks'
    last event if later (None: neither is known, and the record says "now")."""
    seen = [lease.heartbeat_at] if lease is not None else []
    record = activities.read_record(ws)
    if record is not None and record.session_id == (lease.session_id if lease is not None else record.session_id):
        seen.append(timeutil.from_timestamp(record.at))
    return max(seen) if seen else None


def manifest_aside(ctx: Context, ws: Workspace, exc: CorruptMetadata, then: str, *, move: bool = True) -> None:
    """Keep a corrupt start manifest's bytes aside, never just delete them (``move`` False:
    keep the manifest too, for finalize to remove last as usual)."""
    try:
        kept = f"kept it as {keep_aside(ws.manifest_start, str(int(time.time())), move=move).name}"
    except OSError as err:
        kept = f"could not keep it aside ({err.strerror or err})"
    ctx.say(f"warning: {exc.path} is corrupt ({exc.error}); {kept} and {then}")
    records.event(ws, "warning", message=f"corrupt start manifest: {kept}")


def _meta_or_none(ws: Workspace) -> TaskMeta | None:
    """task.yaml for the record (agent, repository); None when unreadable: the manifest diff still stands."""
    try:
        return ws.read_meta()
    except CtaskError:
        return None


def _parse_or_now(value: str | None) -> dt.datetime:
    if value:
        with contextlib.suppress(ValueError):
            return timeutil.parse(value)
    return timeutil.now()
