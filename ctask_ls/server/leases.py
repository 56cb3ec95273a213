"""``ctask/leaseState``: every task's lease, sent after ``initialized`` and on every change.

Each tick computes every task's :class:`~.protocol.LeaseState` from its lease
file and the tick's tmux snapshot, and sends the ones that changed.  Changes
made by anyone are seen the same way: this server, a ``ctask`` CLI in a
terminal, another server, an owner that was SIGKILLed (a dead local owner is
stale at once).  A heartbeat that only moves the lease's ``heartbeat_at`` and
``age_s`` is not a change; neither is the number of seconds in a stale reason.
The lease inside is the very object task objects carry (one shape on the wire:
:mod:`ctask_ls.protocol.payloads`).  A task whose
workspace disappears gets one last notification with ``removed: true``.

While looking, the watcher keeps the SPEC's promises about unowned sessions
(on the background executor, one job per task at a time):

* a session that ended while nobody owned it (start manifest, no fresh lease,
  tmux session gone or its agent dead) is finalized (reconcile);
* with ``autoAdopt`` (default true), a running tmux session whose lease is
  missing or stale is adopted, so that it will be finalized.  A
  ``fresh_remote`` lease is never adopted without asking (``ctask.resume``
  or ``ctask.attach`` ask with ``window/showMessageRequest``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
import typing as t

from ctask_ls.core.api import FRESH_REMOTE, MISSING, CtaskError, file_identity, record_key

from . import protocol
from .watch import ControlWatch

if t.TYPE_CHECKING:
    from ctask_ls.core.api import FileKey, LeaseInfo, PaneState, Workspace

    from .activity import ActivityNotifier
    from .owned import Owner
    from .server import CtaskServer

logger = logging.getLogger("ctask_ls.server.leases")


def lease_state(server: CtaskServer, ws: Workspace, info: LeaseInfo, pane: PaneState | None) -> protocol.LeaseState:
    """The ``ctask/leaseState`` payload of one task: its lease is the task object's (``LeaseInfo.to_json``)."""
    lease = info.lease
    owned_here = lease is not None and lease.pid == os.getpid() and lease.host == server.core.host
    return protocol.LeaseState(
        name=ws.name,
        workspace=ws.tree_dir,
        lease=protocol.Lease(**info.to_json()),
        tmux_session=ws.tmux_session,
        tmux_alive=pane is not None and not pane.dead,
        owned_here=owned_here,
        error=str(info.error) if info.error is not None else None,
    )


class LeaseWatcher:
    """Sends lease changes; reconciles and adopts while it looks."""

    def __init__(self, server: CtaskServer, owner: Owner, activity: ActivityNotifier) -> None:
        self.server = server
        self.owner = owner
        self.activity = activity
        self.watch = ControlWatch(server.look_soon, server.poke)
        """The control directories watched, so a changed lease or hook record is looked at at once."""
        self._watch_started = False
        self.last: dict[str, protocol.LeaseState] = {}
        self._busy: set[str] = set()
        self._warned: dict[str, str] = {}
        self._stamps: dict[str, FileKey | None] = {}
        """Each lease file's key at the last look: what changed since."""
        self._workspaces: dict[str, Workspace] = {}
        self._settled: dict[str, tuple[tuple[PaneState | None, FileKey | str | None, FileKey | None], float]] = {}
        """Each task's pane and files at its last look, and until when they alone decide (:meth:`_settled_until`)."""
        self._lock = threading.Lock()
        self._due = 0.0
        """When the next tick must look, as the last one found (:meth:`tick`): Unix time."""

    def wait(self) -> float:
        """Seconds the next tick can wait, for all this watcher knows (``CtaskServer.wait_hooks``)."""
        return self._due - time.time()

    def tick(self, panes: dict[str, PaneState]) -> None:
        core = self.server.core
        if not self._watch_started and self.server.loop is not None:
            self._watch_started = True
            self.watch.start(self.server.loop)
        seen: dict[str, protocol.LeaseState] = {}
        tasks_dir = str(core.config.tasks_dir)
        with self._lock:
            busy = set(self._busy)
        holding = self.owner.holding()
        now = time.time()
        watched = self.watch.complete  # a hook's record is then seen when written, not looked for here
        # When the next tick must look (Unix time): the soonest of the tasks' deadlines; now when tmux must
        # be asked about a pane whose output no event reports, and every tick while files are polled.
        due = math.inf if watched else now
        known = frozenset(self.last)
        looks: list[tuple[Workspace, PaneState | None]] = []
        """Activity is looked at after the leases are sent: a client learns of a task before what it does."""
        for name in core.names():
            ws = self._workspaces.get(os.path.join(tasks_dir, name))  # checked when first seen
            if ws is None:
                try:
                    ws = core.workspace(name)
                except CtaskError:
                    continue
            pane = panes.get(ws.tmux_session)
            stamp = file_identity(ws)
            mark = (pane, core.lease_stamp(ws, stamp), None if watched else record_key(ws))
            self._stamps[ws.dir] = stamp
            self._workspaces[ws.dir] = ws
            last, before = self._settled.get(ws.dir), self.last.get(ws.dir)
            if pane is not None and not pane.dead and not self.owner.output.covered(ws.dir):
                due = now  # its output is only seen by asking tmux
            if (
                last is not None
                and before is not None
                and last[0] == mark
                and now < last[1]
                and ws.dir not in busy
                and ws.dir not in holding
            ):
                seen[ws.dir] = before  # nothing it depends on changed: no look
                due = min(due, last[1])
                continue
            info = core.inspect_shown(ws)
            self._maintain(ws, info, pane)
            seen[ws.dir] = lease_state(self.server, ws, info, pane)
            looks.append((ws, pane))
            if ws.dir in busy or ws.dir in holding:  # what is shown stays the last state: look again next time
                self._settled.pop(ws.dir, None)
                due = now
            else:
                until = self._settled_until(info, pane, now)
                self._settled[ws.dir] = (mark, until)
                due = min(due, until)
        for tracked in self.owner.sessions():  # owned in a home the settings moved away from
            ws = tracked.owned.ws
            if ws.dir not in seen and ws.root.is_dir():
                seen[ws.dir] = lease_state(self.server, ws, core.inspect(ws), panes.get(ws.tmux_session))
        for key in self.owner.holding():  # its finalize notifies first; the tick after it, this
            if key in self.last and key in seen:
                seen[key] = self.last[key]
        for key in busy & seen.keys():  # a launch in progress: shown once it is done, not half-way
            if key in self.last:
                seen[key] = self.last[key]
        for key, state in seen.items():
            if key in busy and key not in self.last:
                continue  # told once the command is done (the next tick)
            before = self.last.get(key)
            if before is None or (before is not state and before.change_key() != state.change_key()):
                self.server.notify(protocol.LEASE_STATE, state.to_json())
        for ws, pane in looks:
            if ws.dir in busy:
                continue  # a launch whose lease is held back: its activity comes after it, the next tick
            self.activity.look(ws, pane)
        for key, state in self.last.items():
            if key not in seen:
                gone = protocol.LeaseState(
                    name=state.name,
                    workspace=state.workspace,
                    lease=protocol.Lease(MISSING),
                    tmux_session=state.tmux_session,
                    tmux_alive=False,
                    owned_here=False,
                    removed=True,
                )
                self.server.notify(protocol.LEASE_STATE, gone.to_json())
        self.last = {key: state for key, state in seen.items() if key not in busy or key in self.last}
        for table in (self._workspaces, self._stamps, self._settled):
            for key in table.keys() - seen.keys():
                del table[key]
        self.activity.keep(self._workspaces.keys())
        self.watch.own_leases = frozenset(tracked.owned.ws.dir for tracked in self.owner.sessions())
        self.watch.sync(self._workspaces.keys(), tasks_dir)
        # A task new to this tick is looked at again at the next poll: what its maker wrote before the watch of
        # its directory began is seen then.  Without complete watches, every poll looks.
        self._due = due if self.watch.complete and not (seen.keys() - known) else now
        core.lease_reads.forget(lambda path: path.rpartition("/")[0] in seen)  # tasks that went

    def _settled_until(self, info: LeaseInfo, pane: PaneState | None, now: float) -> float:
        """Until when a task whose files and pane stay the same needs no look (Unix time; ``now``: every tick).

        Only time changes it then: its lease turns stale ``stale_after`` after
        its heartbeat, an agent quiet for ``idle_after`` turns idle.  A lease
        of another live process on this host is looked at every tick (its
        owner may die, which no file shows), and so is anything this server
        acts on (an orphan to adopt or a session to record).
        """
        config = self.server.core.config
        until = math.inf
        if pane is not None and pane.dead:
            return now
        if pane is not None and pane.output_at is not None and now - pane.output_at < config.idle_after:
            until = pane.output_at + config.idle_after
        if info.error is not None:
            return min(until, now + config.stale_after)
        lease = info.lease
        if info.fresh and lease is not None:
            mine = lease.pid == os.getpid() and lease.host == self.server.core.host
            if mine:  # our heartbeat keeps it fresh; should it be lost, the heartbeat says so (a tick at once)
                return until
            if info.state != FRESH_REMOTE:
                return now
            return min(until, now + max(0.0, config.stale_after - (info.age_s or 0.0)))
        if pane is not None or lease is not None:  # an orphan, a stale lease: adopt, reconcile or show
            return now
        return until

    def quick(self, panes: dict[str, PaneState]) -> None:
        """Between two ticks: re-read only the leases whose file changed (one stat per task).

        This is what makes a lease written or removed by another process show
        within a fraction of ``poll_interval``; adoption and reconciliation
        stay with the full tick.
        """
        holding = self.owner.holding()
        polled = not self.watch.complete  # no native watch: hook records are polled here too
        for key, ws in list(self._workspaces.items()):  # tasks new since the tick wait for the next
            if key not in holding:
                self._quick_lease(key, ws, panes)
            if polled and key in self.last and not self.busy(key):
                self.activity.look(ws, panes.get(ws.tmux_session))

    def changed(self, keys: t.Collection[str], panes: dict[str, PaneState]) -> None:
        """Watched files of the tasks ``keys`` (control directories) changed: look at those tasks now (the loop).

        With tmux's state of now, not the last tick's: a lease or a hook's
        record written by a launch that the tick has not seen comes with a
        session the tick's snapshot does not have yet (one ``list-panes``).
        """
        holding = self.owner.holding()
        if any(key in self._workspaces for key in keys):
            core = self.server.core
            panes = core.tmux.panes() if core.tmux.available() else panes
        for key in keys:
            ws = self._workspaces.get(key)
            if ws is None:  # new since the tick: the next one sees it
                continue
            if key not in holding:
                self._quick_lease(key, ws, panes)
            if key in self.last and not self.busy(key):  # the client knows of its lease: then what it does
                self.activity.look(ws, panes.get(ws.tmux_session))

    def busy(self, key: str) -> bool:
        """A command (a launch) is changing task ``key``: what is shown of it waits until it is done."""
        with self._lock:
            return key in self._busy

    def _quick_lease(self, key: str, ws: Workspace, panes: dict[str, PaneState]) -> None:
        with self._lock:
            if key in self._busy:  # a command (a launch) is changing it: its lease comes before its session
                return
        stamp = file_identity(ws)
        if key not in self.last or self._stamps.get(key) == stamp:
            return
        self._stamps[key] = stamp
        state = lease_state(self.server, ws, self.server.core.inspect_shown(ws), panes.get(ws.tmux_session))
        if self.last[key].change_key() != state.change_key():
            self.last[key] = state
            self.server.notify(protocol.LEASE_STATE, state.to_json())

    @contextlib.contextmanager
    def hold(self, ws: Workspace) -> t.Iterator[None]:
        """Neither adopt nor reconcile ``ws`` in this block (a command is changing it), nor show its lease
        between two ticks: a launch writes the lease before tmux runs its session."""
        key = ws.dir
        with self._lock:
            mine = key not in self._busy
            self._busy.add(key)
        try:
            yield
        finally:
            if mine:
                with self._lock:
                    self._busy.discard(key)
                self.server.poke()  # what the command did is shown now, not at the next poll

    # -- reconcile and adopt ----------------------------------------------------------------------

    def _maintain(self, ws: Workspace, info: LeaseInfo, pane: PaneState | None) -> None:
        key = ws.dir
        with self._lock:
            if key in self._busy:
                return
        alive = pane is not None and not pane.dead
        if info.fresh:
            self._warned.pop(key, None)
            return
        if info.error is not None:
            self._warn_once(key, f"warning: task {ws.name}: {info.error}")
            return
        if not alive:
            if ws.manifest_start.exists():
                self._start(key, self._reconcile, ws)
            return
        if self.server.core.config.auto_adopt and self.owner.get(ws) is None:
            self._start(key, self._adopt, ws, pane)

    def _start(self, key: str, job: t.Callable[..., None], *args: t.Any) -> None:
        with self._lock:
            if key in self._busy:
                return
            self._busy.add(key)
        if self.server.submit(self._run, key, job, *args) is None:
            with self._lock:
                self._busy.discard(key)

    def _run(self, key: str, job: t.Callable[..., None], *args: t.Any) -> None:
        try:
            if not self.server.stopping:
                job(*args)
        except CtaskError as exc:
            self._warn_once(key, f"warning: {exc}")
        except Exception as exc:
            logger.exception("background job for %s failed", key)
            self._warn_once(key, f"warning: {key}: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._busy.discard(key)
            self.server.poke()

    def _reconcile(self, ws: Workspace) -> None:
        summary = self.server.core.reconcile(ws)
        if summary is not None:
            self.server.say(
                f"recorded the session of task {ws.name} that ended while nobody owned it ({summary.get('end_reason')})"
            )

    def _adopt(self, ws: Workspace, pane: PaneState | None) -> None:
        owned = self.server.core.adopt(ws, pane)
        if owned is not None:
            self.owner.add(owned)

    def _warn_once(self, key: str, message: str) -> None:
        if self._warned.get(key) == message:
            return
        self._warned[key] = message
        self.server.say(message)


def setup(server: CtaskServer, owner: Owner, activity: ActivityNotifier) -> LeaseWatcher:
    """The lease watcher, told of the sessions ``owner`` holds; full looks every tick, quick ones between,
    and at once for a task whose lease or hook record changed (the control directories are watched)."""
    watcher = LeaseWatcher(server, owner, activity)
    server.tick_hooks.append(watcher.tick)
    server.quick_hooks.append(watcher.quick)
    server.quick_wanted = lambda: not watcher.watch.complete
    server.changed_hooks.append(watcher.changed)
    server.wait_hooks.append(watcher.wait)
    server.close_hooks.append(lambda _why: watcher.watch.stop())
    return watcher
