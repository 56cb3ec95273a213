"""``ctask/diff``: live while an owned session runs, and once final.

Live diffs are captured on the background executor, at most every
:data:`LIVE_INTERVAL` seconds per session (longer when a capture is slow: five
times the last capture's duration), only after something in the agent's tree
changed (the server watches it while it owns the session,
:class:`~.watch.TreeWatch`; on a timer where it cannot), and sent only when the diff changed (its
lists or byte totals, or for a task on a git repository git's view: a commit
changes no file in the workspace).  Live captures report no ``$/progress``:
they are not work the user waits for.  The final diff comes from the summary
that finalize wrote, so it is exactly what ``ctask diff`` shows afterwards.

A repo task's notifications carry ``git`` as ``ctask.diff`` results do
(branch, commits, committed and uncommitted files); its git commands count in
the capture time that spaces live diffs out.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
import typing as t

from . import protocol

if t.TYPE_CHECKING:
    import threading

    from ctask_ls.core.api import Diff, OwnedSession

    class Tracked(t.Protocol):
        """What a live diff needs of an owned session (:class:`.owned.Tracked` has it)."""

        owned: OwnedSession
        live: LiveState
        ending: bool
        lock: threading.Lock

    from .server import CtaskServer

logger = logging.getLogger("ctask_ls.server.diffs")

LIVE_INTERVAL = 2.0
"""Seconds between two live diffs of one session, at least."""
SLOW_FACTOR = 5.0
"""A capture that took S seconds waits SLOW_FACTOR * S before the next one."""

DiffKey = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[int, int, int], str]
EMPTY: DiffKey = ((), (), (), (0, 0, 0), "null")


@dataclasses.dataclass
class LiveState:
    """Live-diff bookkeeping of one owned session."""

    next_at: float = dataclasses.field(default_factory=lambda: time.monotonic() + LIVE_INTERVAL)
    running: bool = False
    last: DiffKey = EMPTY
    """The last diff sent (the empty diff before the first)."""
    watched: bool = False
    """The tree is watched: a capture is due only when :attr:`changed`."""
    changed: bool = True
    """Something in the tree changed since the last capture began (set by the watch)."""


def _key(d: Diff, git: dict[str, t.Any] | None) -> DiffKey:
    b = d.bytes
    return (
        tuple(d.added),
        tuple(d.modified),
        tuple(d.deleted),
        (b["added"], b["modified"], b["deleted"]),
        json.dumps(git, sort_keys=True),
    )


def live_due(tracked: Tracked, now: float) -> float:
    """Seconds until a live diff of ``tracked`` is due (``now``: monotonic); infinity while none is.

    One is due when its tree changed (or, unwatched, on the timer), once
    :attr:`LiveState.next_at` has come; a capture running now asks for the
    next tick itself when the tree changed meanwhile.
    """
    live = tracked.live
    if live.running or (live.watched and not live.changed):
        return math.inf
    return max(0.0, live.next_at - now)


def maybe_live(server: CtaskServer, tracked: Tracked) -> None:
    """Called on every tick for a running owned session; starts a capture when one is due."""
    live = tracked.live
    if live.running or (live.watched and not live.changed) or time.monotonic() < live.next_at:
        return
    live.running = True
    if server.submit(_live, server, tracked) is None:
        live.running = False


def _live(server: CtaskServer, tracked: Tracked) -> None:
    live = tracked.live
    started = time.monotonic()
    try:
        if tracked.ending:
            return
        live.changed = False  # a change from now on is for the next capture
        with server.quiet_progress():
            d = tracked.owned.live_diff()
        git = tracked.owned.git_view()
        key = _key(d, git)
        with tracked.lock:
            if tracked.ending or key == live.last:
                return
            live.last = key
            payload = protocol.DiffNotification(
                name=tracked.owned.ws.name,
                session_id=tracked.owned.session_id,
                final=False,
                added=d.added,
                modified=d.modified,
                deleted=d.deleted,
                counts=d.counts,
                bytes=d.bytes,
                git=git,
                checkpoint=start.n if (start := tracked.owned.start_checkpoint) is not None else None,
            )
            server.notify(protocol.DIFF_NOTIFICATION, payload.to_json())
    except Exception:
        logger.warning("live diff of %s failed", tracked.owned.ws.name, exc_info=True)
    finally:
        elapsed = time.monotonic() - started
        live.next_at = time.monotonic() + max(LIVE_INTERVAL, SLOW_FACTOR * elapsed)
        live.running = False
        if live.changed or not live.watched:  # the tree changed while it was captured: the next one is due
            server.tick_within(live_due(tracked, time.monotonic()))


def final_payload(
    name: str, summary: t.Mapping[str, t.Any], checkpoint: int | None = None
) -> protocol.DiffNotification:
    """The ``final: true`` diff, from the summary finalize wrote."""

    def paths(key: str) -> list[str]:
        value = summary.get(key)
        return [str(p) for p in value] if isinstance(value, list) else []

    added, modified, deleted = paths("added"), paths("modified"), paths("deleted")
    counts = summary.get("counts")
    size = summary.get("bytes")
    git = summary.get("git")
    return protocol.DiffNotification(
        name=name,
        session_id=summary.get("session_id"),
        final=True,
        added=added,
        modified=modified,
        deleted=deleted,
        counts=dict(counts)
        if isinstance(counts, dict)
        else {"added": len(added), "modified": len(modified), "deleted": len(deleted)},
        bytes=dict(size) if isinstance(size, dict) else {"added": 0, "modified": 0, "deleted": 0},
        git=dict(git) if isinstance(git, dict) else None,
        checkpoint=checkpoint,
    )
