"""Sessions this server owns: watched on every tick, finalized when they end.

A session becomes owned when a command launches or adopts it, or when the
lease watcher adopts an orphan.  tmux's ``pane-died`` hook of every owned
session signals the core's ``wait-for`` channel, and a thread waiting on it
runs a tick at once, so an agent's exit is recorded (and an editor terminal
attached to it returns) without waiting for the next poll.  Each tick checks every owned session against
the tick's one tmux snapshot (:meth:`OwnedSession.check`); an ended one is
finalized on the background executor, then the client gets ``ctask/diff``
with ``final: true``, ``ctask/sessionEnded`` with the summary and, last, the
``ctask/leaseState`` that says the lease is gone: the lease watcher holds back
the task's lease changes while its finalize runs (:meth:`Owner.holding`), so a
status bar goes from "owned" straight to "ended", never through "idle".

A session whose lease was taken over (``ctask stop`` from elsewhere, ``rm
--force``, an adopter after we looked stale) is dropped: its new owner records
it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import math
import threading
import time
import typing as t

from ctask_ls.core.api import read_summary

from . import diffs, protocol
from .output import OutputWatch
from .server import FINALIZE_GRACE
from .watch import TreeWatch

if t.TYPE_CHECKING:
    from ctask_ls.core.api import EndState, OwnedSession, PaneState, Workspace

    from .server import CtaskServer

logger = logging.getLogger("ctask_ls.server.owned")

Summary = dict[str, t.Any]

EXIT_WAIT = 60.0
"""How long one wait for an agent's exit lasts: the poll tick still looks every ``poll_interval`` (a killed
session fires no ``pane-died``), so the wait only needs renewing now and then (each is a process)."""


@dataclasses.dataclass
class Tracked:
    """One owned session and what the server knows about it."""

    owned: OwnedSession
    live: diffs.LiveState
    ending: bool = False
    """This server no longer treats the session as running: no more live diffs, no second finalize.

    Set when the tick decides to finalize it (before the finalize job runs), when its ownership was
    lost, when its task is being removed (:meth:`Owner.forget`) and when the server releases it.
    Not :attr:`OwnedSession.done`, which the core sets only once its finalize or release actually
    starts (under the core's own lock): a tick between the decision and the job would submit a second
    finalize (and the client get a second ``ctask/sessionEnded``), and a lost session is never ended
    by the core at all (its new owner records it).  Under :attr:`lock` it orders the end against a live
    diff about to be sent, so no live ``ctask/diff`` follows the final one.
    """
    finished: concurrent.futures.Future[Summary | None] = dataclasses.field(default_factory=concurrent.futures.Future)
    """Resolves with the summary once the session is recorded (None: released, lost, or recorded elsewhere)."""
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    """Orders "ending" against a live diff about to be sent."""


class Owner:
    """The registry of owned sessions, keyed by workspace path."""

    def __init__(self, server: CtaskServer) -> None:
        self.server = server
        self._lock = threading.Lock()
        self._sessions: dict[str, Tracked] = {}
        self._finalizing: set[concurrent.futures.Future[t.Any]] = set()
        self._holding: set[str] = set()
        """Workspaces whose finalize is queued or running and has not yet sent its final ``ctask/diff`` and
        ``ctask/sessionEnded``: the lease watcher holds back their lease changes until then (:meth:`holding`).
        Not derived from :attr:`Tracked.ending`, which stays set for good and is also set by ends that notify
        nothing (lost, removed, released): this is only a finalize's, and only until its notifications are out."""
        self._exit_watcher: threading.Thread | None = None
        self.trees = TreeWatch()
        """The owned sessions' trees, so a live diff is computed only after a change."""
        self.output = OutputWatch(server, server.look_soon, lambda _key: server.poke())
        """The owned sessions' output, as it happens: a look at the task, or a tick when the pane went away."""

    # -- registry ---------------------------------------------------------------------------------

    def add(self, owned: OwnedSession) -> Tracked:
        """Own ``owned`` from now on (any thread)."""
        tracked = Tracked(owned, diffs.LiveState())
        with self._lock:
            closing = self.server.stopping
            if not closing:
                self._sessions[owned.ws.dir] = tracked
        with self._lock:
            start_watcher = not closing and self._exit_watcher is None
            if start_watcher:
                self._exit_watcher = threading.Thread(target=self._watch_exits, name="ctask-exits", daemon=True)
        if start_watcher and self._exit_watcher is not None:
            self._exit_watcher.start()
        if closing:  # a launch that finished after shutdown began: hand it on at once
            tracked.ending = True
            owned.release("server shutting down")
            tracked.finished.set_result(None)
        else:  # a big tree takes a while to watch: not on the command's thread
            owned.lost_hooks.append(self.server.poke)
            self.server.submit(self._watch, tracked)
        self.server.poke()
        return tracked

    def wait(self) -> float:
        """Seconds the next tick can wait, for the owned sessions (``CtaskServer.wait_hooks``).

        An owned session's end comes from tmux's ``pane-died`` hook (the exit
        channel) or its output pipe closing, and its output from that pipe;
        a live diff is due when its tree changed (the tree watch asks for a
        tick then).  Without a pipe or a tree watch, every poll.
        """
        wait = math.inf
        now = time.monotonic()
        for tracked in self.sessions():
            if tracked.ending:
                continue
            key = tracked.owned.ws.dir
            if tracked.owned.lost is not None or not self.output.covered(key):
                return 0.0
            wait = min(wait, diffs.live_due(tracked, now))
        return wait

    def _watch(self, tracked: Tracked) -> None:
        owned = tracked.owned
        tmux = self.server.core.tmux
        pane = tmux.pane(owned.ws.tmux_session) if not tracked.ending else None
        pid = pane.pid if pane is not None and not pane.dead else None
        if pane is not None and self.output.watch(owned.ws.dir, owned.ws.tmux_session, pid):
            if tracked.ending or self.get(owned.ws) is not tracked:  # ended meanwhile
                self.output.unwatch(owned.ws.dir)
            else:
                self.server.poke()  # the ticks can slow down now
        self._watch_tree(tracked)

    def _watch_tree(self, tracked: Tracked) -> None:
        live = tracked.live
        key = tracked.owned.ws.dir
        server = self.server

        def changed() -> None:
            if not live.changed:
                live.changed = True
                server.tick_within(diffs.live_due(tracked, time.monotonic()))

        try:
            dirs = tracked.owned.watched_dirs()
        except Exception:  # git failed: live diffs stay on their timer
            logger.warning("cannot tell what to watch of %s", tracked.owned.ws.name, exc_info=True)
            return
        if tracked.ending or not self.trees.watch(key, dirs, changed):
            return
        live.watched = True
        live.changed = True  # what changed before the watch began is looked at once more
        if tracked.ending or self.get(tracked.owned.ws) is not tracked:  # ended meanwhile
            self.trees.unwatch(key)
        else:
            server.tick_within(diffs.live_due(tracked, time.monotonic()))

    def _watch_exits(self) -> None:
        """Learn of an owned agent's exit as tmux sees it: its ``pane-died`` hook signals the core's channel.

        One waiting tmux client for all owned sessions; each signal runs a
        tick at once instead of at the next poll.
        """
        core = self.server.core
        while not self.server.stopping:
            if core.tmux.wait_for(core.exit_channel, EXIT_WAIT):
                self.server.poke()

    def turn_ended(self, ws: Workspace) -> None:
        """An owned session's agent finished a turn: its checkpoint (SPEC 3.13), off the loop."""
        tracked = self.get(ws)
        if tracked is not None and not tracked.ending:
            self.server.submit(tracked.owned.checkpoint_turn)

    def get(self, ws: Workspace) -> Tracked | None:
        with self._lock:
            return self._sessions.get(ws.dir)

    def sessions(self) -> list[Tracked]:
        with self._lock:
            return list(self._sessions.values())

    def forget(self, ws: Workspace) -> Tracked | None:
        """Stop tracking ``ws`` (it is being removed); the caller releases it."""
        with self._lock:
            tracked = self._sessions.pop(ws.dir, None)
        if tracked is not None:
            with tracked.lock:
                tracked.ending = True
            self.trees.unwatch(ws.dir)
            self.output.unwatch(ws.dir)
        return tracked

    def holding(self) -> frozenset[str]:
        """Workspaces whose finalize has not yet sent its notifications: their lease changes wait."""
        with self._lock:
            return frozenset(self._holding)

    def _drop(self, tracked: Tracked) -> None:
        with self._lock:
            key = tracked.owned.ws.dir
            mine = self._sessions.get(key) is tracked
            if mine:
                del self._sessions[key]
        if mine:
            self.trees.unwatch(key)
            self.output.unwatch(key)

    # -- the tick ---------------------------------------------------------------------------------

    def tick(self, panes: dict[str, PaneState]) -> None:
        for tracked in self.sessions():
            if tracked.ending:
                continue
            owned = tracked.owned
            if owned.lost is not None:
                with tracked.lock:
                    tracked.ending = True
                self._drop(tracked)
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    tracked.finished.set_result(None)
                continue
            end = owned.check(panes)
            if end is None:
                diffs.maybe_live(self.server, tracked)
                continue
            with tracked.lock:
                tracked.ending = True
            with self._lock:
                self._holding.add(owned.ws.dir)  # until _finalize has notified
            future = self.server.submit(self._finalize, tracked, end)
            with self._lock:
                if future is None:  # shutting down
                    self._holding.discard(owned.ws.dir)
                    continue
                self._finalizing.add(future)
            future.add_done_callback(self._finalizing_done)

    def _finalizing_done(self, future: concurrent.futures.Future[t.Any]) -> None:
        with self._lock:
            self._finalizing.discard(future)

    def _finalize(self, tracked: Tracked, end: EndState) -> None:
        owned = tracked.owned
        ws = owned.ws
        summary: Summary | None = None
        try:
            summary = owned.finalize(end)
            if summary is None:
                recorded = read_summary(ws)
                if recorded is not None and recorded.get("session_id") == owned.session_id:
                    summary = recorded
        except Exception as exc:
            logger.exception("finalize of %s failed", ws.name)
            self.server.show(f"could not record the session of task {ws.name} ({exc}); `ctask list` will retry")
        finally:
            self._drop(tracked)
        try:
            if summary is not None:
                self.server.notify(
                    protocol.DIFF_NOTIFICATION,
                    diffs.final_payload(
                        ws.name, summary, start.n if (start := owned.start_checkpoint) else None
                    ).to_json(),
                )
                self.server.notify(protocol.SESSION_ENDED, protocol.SessionEnded(ws.name, summary).to_json())
        finally:
            with self._lock:
                self._holding.discard(ws.dir)
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            tracked.finished.set_result(summary)
        self.server.poke()  # the next tick sends the lease change it held back

    # -- ending -----------------------------------------------------------------------------------

    def wait_finalizing(self, timeout: float) -> None:
        """Let finalizes already running complete (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._finalizing)
            if not pending or time.monotonic() >= deadline:
                return
            concurrent.futures.wait(pending, timeout=max(0.0, deadline - time.monotonic()))

    def close(self, why: str) -> None:
        """The server is closing: let running finalizes complete (bounded), then release the rest."""
        self.wait_finalizing(FINALIZE_GRACE)
        self.release_all(why)
        if self._exit_watcher is not None:  # its waiting tmux client goes now, not at its timeout
            with contextlib.suppress(Exception):
                self.server.core.tmux.wake(self.server.core.exit_channel)

    def release_all(self, why: str) -> None:
        """Stop heartbeats and remove our leases; the tmux sessions keep running."""
        with self._lock:
            tracked_all = list(self._sessions.values())
            self._sessions.clear()
        self.trees.stop()
        self.output.close()
        for tracked in tracked_all:
            with tracked.lock:
                if tracked.ending:
                    continue
                tracked.ending = True
            try:
                tracked.owned.release(why)
            except Exception:
                logger.exception("release of %s failed", tracked.owned.ws.name)
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                tracked.finished.set_result(None)


def setup(server: CtaskServer) -> Owner:
    """The owner of this server's sessions: looked at every tick, handing its sessions on when the server closes."""
    owner = Owner(server)
    server.tick_hooks.append(owner.tick)
    server.wait_hooks.append(owner.wait)
    server.close_hooks.append(owner.close)
    return owner
