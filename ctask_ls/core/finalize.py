"""Record an ended session (SPEC 3.5 step 8): the one way a session gets its summary and its log line.

Owned, adopted and unowned sessions all end here.  The caller holds the
write lock.  Order: read what tmux still knows, write the summary, append
the session log (once per session id: a rerun after a crash only tidies
up), kill what is left of the tmux session, remove the lease, the stop
request and, last, the start manifest, so that a crash anywhere in between
is completed by the next reconcile.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import typing as t

from ctask_ls.core import gitview, records, review, timeutil
from ctask_ls.core import manifest as manifests

if t.TYPE_CHECKING:
    import datetime as dt

    from ctask_ls.core.context import Context
    from ctask_ls.core.git import RepoInfo
    from ctask_ls.core.tmux import PaneState
    from ctask_ls.core.workspace import Workspace


class EndReason(enum.StrEnum):
    AGENT_EXITED = "agent_exited"
    TMUX_SESSION_ENDED = "tmux_session_ended"
    STOPPED = "stopped"
    ENDED_UNOWNED = "ended_unowned"
    TMUX_SERVER_GONE = "tmux_server_gone"
    """The whole tmux server went away under the session (killed, crashed, the host rebooted): the agent did
    not choose to end, so ``resume`` carries its conversation on (SPEC 3.12)."""


@dataclasses.dataclass
class EndState:
    """How a session ended, as far as it is known before it is recorded."""

    reason: EndReason
    pane: PaneState | None
    """The dead pane tmux kept (exit status, last lines), if any."""
    exit_status: int | None = None
    detected_via: str = "polling"
    """``wait`` | ``polling`` | ``reconcile``."""
    last_lines: list[str] | None = None
    ended_at: dt.datetime | None = None
    """When the agent ended, when known before finalize (a stop request's time)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class SessionFacts:
    """What is known of a session from its start: the record's fixed part."""

    session_id: str
    """Fixed at launch: stored in the start manifest and tagged on the tmux session."""
    baseline: manifests.Manifest
    baseline_kind: str
    """``original`` (the launch's start manifest), ``adoption`` (captured by the adopter) or ``none``."""
    started_at: dt.datetime
    agent: str
    mode: str
    ownership: str
    """``owned``, ``adopted`` or ``unowned``."""
    repo: RepoInfo | None = None
    """The task's repository (its git view goes into the summary)."""
    adopted_at: dt.datetime | None = None
    lease_sid: str | None = None
    """The session id of the lease that owns it (the adopter's own); None for an unowned session."""


def record(ctx: Context, ws: Workspace, facts: SessionFacts, end: EndState) -> dict[str, t.Any] | None:
    """Write the summary and the log line, then tidy up; None if the session was recorded already."""
    if records.session_logged(ws, facts.session_id):
        cleanup(ctx, ws, facts.lease_sid)  # a crash after the record was written: only tidy up
        return None
    exit_status = end.exit_status
    exit_signal: int | None = None
    lines = end.last_lines
    ended = end.ended_at
    if end.pane is not None and end.pane.dead:
        pane = ctx.tmux.settled_pane(ws.tmux_session, end.pane)
        if exit_status is None and pane is not None:
            exit_status = pane.dead_status
        if pane is not None and pane.dead_signal is not None:
            exit_signal = pane.dead_signal
        if pane is not None and pane.dead_time is not None:
            ended = timeutil.from_timestamp(pane.dead_time)  # when it ended, not when it was noticed
        if lines is None:
            lines = ctx.tmux.capture_tail(ws.tmux_session)
    final = ctx.capture(ws, None)
    review.take_quietly(ctx, ws, "end", manifest=final, session_id=facts.session_id)
    d = manifests.diff(facts.baseline, final)
    ended = ended or timeutil.now()
    summary: dict[str, t.Any] = {
        "schema": 1,
        "task": ws.name,
        "session_id": facts.session_id,
        "host": ctx.host,
        "agent": facts.agent,
        "mode": facts.mode,
        "started_at": timeutil.rfc3339(facts.started_at),
        "ended_at": timeutil.rfc3339(ended),
        "duration_s": max(0, int(ended.timestamp() - facts.started_at.timestamp())),
        "baseline": facts.baseline_kind,
        "added": d.added,
        "modified": d.modified,
        "deleted": d.deleted,
        "counts": d.counts,
        "bytes": d.bytes,
        "files_at_end": len(final.entries),
        "bytes_at_end": final.total_bytes,
        "end_reason": str(end.reason),
        "detected_via": end.detected_via,
        "session_ownership": facts.ownership,
    }
    if facts.adopted_at is not None:
        summary["adopted_from_orphan_at"] = timeutil.rfc3339(facts.adopted_at)
    if exit_status is not None:
        summary["exit_status"] = exit_status
    if exit_signal is not None:
        summary["exit_signal"] = exit_signal
    if lines:
        summary["last_lines"] = lines
    if final.errors:
        summary["unreadable"] = final.errors
    if facts.repo is not None:
        summary["git"] = gitview.view(facts.repo)
    records.write_summary(ws, summary)
    ctx.fault("finalize.summary_written")
    records.append_session(ws, summary)
    ctx.fault("finalize.logged")
    cleanup(ctx, ws, facts.lease_sid)
    records.event(
        ws,
        "finalized",
        session_id=facts.session_id,
        end_reason=str(end.reason),
        detected_via=end.detected_via,
        ownership=facts.ownership,
    )
    return summary


def cleanup(ctx: Context, ws: Workspace, lease_sid: str | None) -> None:
    """After the record: the tmux session, the agent's environment file, the lease, the stop request and, last,
    the start manifest go."""
    pane = ctx.pane(ws)
    if pane is not None:
        ctx.tmux.kill_session(ws.tmux_session)
    with contextlib.suppress(FileNotFoundError):  # a session killed before its launcher read its environment
        ws.launch_env.unlink()
    ctx.release_lease(ws, lease_sid, reason="finalized")
    with contextlib.suppress(FileNotFoundError):
        ws.stop_marker.unlink()
    ctx.fault("finalize.before_manifest_removed")
    with contextlib.suppress(FileNotFoundError):
        ws.manifest_start.unlink()
    with contextlib.suppress(FileNotFoundError):
        ws.launched_marker.unlink()
