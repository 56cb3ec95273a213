"""``stop`` (SPEC 3.9): end a task's running session and see it recorded, by its owner or here when it has none.

The stop is requested first (a marker with the time and the last screen
lines, under the lock, only while the same session still runs), then the
tmux session is killed: whoever records the session says ``stopped``.  A
live owner elsewhere on this host is waited for; with none, ``stop``
records the session itself.
"""

from __future__ import annotations

import dataclasses
import os
import time
import typing as t

from ctask_ls.core import lease as leases
from ctask_ls.core import markers, records, timeutil
from ctask_ls.core.errors import NoSession, TaskBusy
from ctask_ls.core.finalize import EndReason
from ctask_ls.core.reconcile import finalize_unowned, reconcile
from ctask_ls.core.storage import require_lock

if t.TYPE_CHECKING:
    from ctask_ls.core.context import Context
    from ctask_ls.core.workspace import Workspace


@dataclasses.dataclass(frozen=True)
class StopResult:
    """What ``stop`` did (``ctask stop --json``, ``ctask.stop``)."""

    stopped: bool
    """This call killed the session (False: it had already ended)."""
    finalized: bool
    """The session is recorded (by whoever did it)."""
    summary: dict[str, t.Any] | None = None

    def to_json(self) -> dict[str, t.Any]:
        return {"stopped": self.stopped, "finalized": self.finalized, "summary": self.summary}


def stop(ctx: Context, name: object, *, wait: float | None = None) -> StopResult:
    """Kill the task's tmux session; its owner finalizes (or we do when there is none)."""
    ws, _meta = ctx.load(name)
    info = ctx.inspect(ws)
    if info.state == leases.FRESH_REMOTE and info.lease is not None:
        raise TaskBusy(
            f"task {ws.name} is owned by {info.lease.host} pid {info.lease.pid}; stop it on that host",
            name=ws.name,
        )
    pane = ctx.pane(ws)
    ours = info.state == leases.FRESH_LOCAL and info.lease is not None and info.lease.pid == os.getpid()
    other_owner = info.state == leases.FRESH_LOCAL and info.lease is not None and not ours
    if pane is None or pane.dead:
        # The agent already ended. A live owner records it, with the exit status the
        # dead pane keeps: leave the pane alone.
        summary = reconcile(ctx, ws) if ws.manifest_start.exists() and not other_owner else None
        if summary is not None:
            return StopResult(stopped=False, finalized=True, summary=summary)
        if pane is not None and not info.fresh:
            ctx.tmux.kill_session(ws.tmux_session)
        raise NoSession(f"task {ws.name} has no running session; nothing to stop", name=ws.name)
    request = {
        "requested_at": timeutil.now_str(),
        "by_pid": os.getpid(),
        "host": ctx.host,
        "session_id": pane.session_id,
        "last_lines": ctx.tmux.capture_tail(ws.tmux_session),
    }
    with require_lock(ws.lock_path, ctx.config.lock_timeout, what="request the stop"):
        # Re-check under the lock: the session may have ended and been recorded meanwhile,
        # and a request left behind would mark the *next* session as stopped.
        now_pane = ctx.tmux.pane(ws.tmux_session)
        still = now_pane is not None and not now_pane.dead and now_pane.session_id == pane.session_id
        if still:
            markers.request_stop(ws, request)
    if not still:
        if other_owner:
            return _await_owner(ctx, ws, wait, stopped=False)
        return _recorded(ws, stopped=False)
    records.event(ws, "stop_requested", session_id=pane.session_id)
    ctx.tmux.kill_session(ws.tmux_session)
    if other_owner:
        result = _await_owner(ctx, ws, wait, stopped=True)
        if result.finalized or ctx.inspect(ws).fresh:
            return result
    if ours:
        return StopResult(stopped=True, finalized=False)  # our own poller finalizes
    with require_lock(ws.lock_path, ctx.config.lock_timeout, what="finalize the stopped session"):
        summary = finalize_unowned(ctx, ws, EndReason.STOPPED, "polling")
    if summary is None:
        return _recorded(ws, stopped=True)
    return StopResult(stopped=True, finalized=True, summary=summary)


def _recorded(ws: Workspace, *, stopped: bool) -> StopResult:
    """The session is recorded (by whoever did it): its summary is the last one."""
    summary, _err = records.load_summary_or_none(ws)
    return StopResult(stopped=stopped, finalized=True, summary=summary)


def _await_owner(ctx: Context, ws: Workspace, wait: float | None, *, stopped: bool) -> StopResult:
    """Wait for a live owner to record the session (its start manifest goes last)."""
    deadline = time.monotonic() + (wait if wait is not None else max(10.0, 5 * ctx.config.poll_interval))
    while time.monotonic() < deadline:
        if not ws.manifest_start.exists():
            return _recorded(ws, stopped=stopped)
        if not ctx.inspect(ws).fresh:
            break
        time.sleep(0.05)
    return StopResult(stopped=stopped, finalized=False)
