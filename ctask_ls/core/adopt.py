"""Adoption (SPEC 3.7): take over a running session whose owner died, so that it will be recorded.

The lease is re-read and taken under the write lock, so of any number of
concurrent adopters on one host exactly one wins; the others (and one that
cannot get the lock) become passive.  The orphan's start manifest stays the
baseline when it can be read (``baseline: original``: the summary covers
the whole session, crash included); otherwise a fresh one is captured
(``baseline: adoption``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import typing as t

from ctask_ls.core import lease as leases
from ctask_ls.core import manifest as manifests
from ctask_ls.core import markers, records, review, timeutil
from ctask_ls.core.errors import CorruptMetadata, CtaskError
from ctask_ls.core.finalize import SessionFacts
from ctask_ls.core.owned import OwnedSession, let_go
from ctask_ls.core.reconcile import manifest_aside
from ctask_ls.core.storage import write_lock

if t.TYPE_CHECKING:
    from ctask_ls.core.context import Context
    from ctask_ls.core.tmux import PaneState
    from ctask_ls.core.workspace import Workspace


def adopt(
    ctx: Context, ws: Workspace, pane: PaneState | None = None, *, allow_remote: bool = False
) -> OwnedSession | None:
    """Adopt an orphaned session; None means another owner won and we are passive."""
    ctx.say(f"adopting orphaned session of task {ws.name} (its previous owner exited without finalizing)")
    adopted_at = timeutil.now()
    lease_sid = leases.new_session_id(ctx.host, os.getpid(), adopted_at)
    meta = ws.read_meta()
    pane = pane or ctx.tmux.pane(ws.tmux_session)
    ctx.fault("adopt.before_lock")  # tests widen the race window here (CTASK_PAUSE)
    with write_lock(ws.lock_path, ctx.config.lock_timeout) as held:
        if not held:
            ctx.say(f"warning: could not lock task {ws.name} to adopt it; attaching passively")
            records.event(ws, "warning", message="adoption skipped: write lock timeout")
            return None
        lease = leases.Lease(
            session_id=lease_sid,
            host=ctx.host,
            pid=os.getpid(),
            agent=meta.agent.command,
            mode="persistent",
            tmux_session=ws.tmux_session,
            started_at=adopted_at,
            heartbeat_at=adopted_at,
            owner=ctx.owner,
        )
        claim = leases.try_acquire_or_renew(
            ws, lease, stale_after=ctx.config.stale_after, host=ctx.host, over_remote=allow_remote, inherit_agent=True
        )
        if not claim.held or claim.found is None or claim.written is None:
            return None
        lease = claim.written[1]
        with contextlib.suppress(CtaskError):  # a running session: the task is no longer provisional
            ws.write_meta(dataclasses.replace(ws.read_meta(), updated_at=adopted_at, provisional=False))
        if pane is not None and pane.session_id and not ws.launched_marker.exists():
            markers.mark_launched(ws, pane.session_id)
        old = claim.found
        records.event(
            ws,
            "adopted",
            session_id=lease_sid,
            previous=old.lease.session_id if old.lease else None,
            previous_state=old.state,
        )
    ctx.fault("adopt.lease_written")
    try:
        started_at = adopted_at
        baseline = _original_baseline(ctx, ws)
        if baseline is not None:
            baseline_kind = "original"
            session_id = baseline.session_id or (pane.session_id if pane else None) or lease_sid
            if baseline.captured_at:
                with contextlib.suppress(ValueError):
                    started_at = timeutil.parse(baseline.captured_at)
        else:
            baseline_kind = "adoption"
            session_id = (pane.session_id if pane else None) or lease_sid
            baseline = ctx.write_baseline(ws, session_id)
            review.take_quietly(ctx, ws, "start", manifest=baseline, session_id=session_id)
        facts = SessionFacts(
            session_id=session_id,
            baseline=baseline,
            baseline_kind=baseline_kind,
            started_at=started_at,
            agent=lease.agent,
            mode="persistent",
            ownership="adopted",
            repo=meta.repo,
            adopted_at=adopted_at,
            lease_sid=lease_sid,
        )
        owned = OwnedSession(ctx, ws=ws, lease=lease, facts=facts)
        ctx.fault("adopt.baseline")
        ctx.heartbeats.add(ws, lease, ctx.config.heartbeat_interval, owned.on_lost)
        ctx.tmux.signal_exit_to(ws.tmux_session, ctx.exit_channel, ctx.arm_reaper(ws))
    except BaseException as exc:
        let_go(ctx, ws, lease_sid, f"adoption failed: {exc}")
        raise
    return owned


def _original_baseline(ctx: Context, ws: Workspace) -> manifests.Manifest | None:
    try:
        return manifests.Manifest.load(ws.manifest_start)
    except FileNotFoundError:
        return None
    except CorruptMetadata as exc:
        manifest_aside(ctx, ws, exc, "captured a fresh baseline")
        return None
