"""A session this process owns: watched until it ends, then recorded, or released for another owner to take.

Launch and adoption make one; the CLI's watcher thread or the server's poll
tick watches it (:meth:`OwnedSession.wait`, :meth:`OwnedSession.check`);
it ends in exactly one of :meth:`~OwnedSession.finalize` (the session is
recorded) or :meth:`~OwnedSession.release` (the lease goes, the agent keeps
running).  Its lease is renewed by the context's heartbeat the whole time.
"""

from __future__ import annotations

import contextlib
import functools
import subprocess
import threading
import typing as t

from ctask_ls.core import activity as activities
from ctask_ls.core import checkpoint as checkpoints
from ctask_ls.core import gitview, markers, records, review
from ctask_ls.core import manifest as manifests
from ctask_ls.core.errors import TaskNotFound
from ctask_ls.core.finalize import EndReason, EndState, SessionFacts, record
from ctask_ls.core.lease import is_ours
from ctask_ls.core.storage import write_lock

if t.TYPE_CHECKING:
    from ctask_ls.core.checkpoint import Checkpoint
    from ctask_ls.core.context import Context
    from ctask_ls.core.lease import Lease
    from ctask_ls.core.tmux import PaneState
    from ctask_ls.core.workspace import Workspace

EXIT_LOOK = 1.0
"""The longest an owner waits between two looks at its session: tmux runs no ``pane-died`` hook for an exit
it missed (see :meth:`Tmux.settled_pane`), and an attached user must get the terminal back within a second."""

REMOVED_WHILE_RUNNING = "the task was removed while its session ran; nothing to record"


class OwnedSession:
    """A session this process owns: its lease, heartbeat, baseline and finalize."""

    def __init__(self, ctx: Context, *, ws: Workspace, lease: Lease, facts: SessionFacts) -> None:
        self.ctx = ctx
        self.ws = ws
        self.lease = lease
        self.facts = facts
        self.lost: str | None = None
        self.done = False
        """The session's one end has begun: :meth:`finalize` or :meth:`release`, whichever came first (under
        ``_mutex``); the other then does nothing.  The core's own guard, whatever the front door: the CLI's
        watcher thread may finalize while its main thread releases (attach failed, Ctrl-C).  A server also
        keeps ``Tracked.ending`` (:mod:`ctask_ls.server.owned`), a different fact: see there."""
        self._child: subprocess.Popen[bytes] | None = None
        self._mutex = threading.Lock()
        self._activity: tuple[str, str, t.Any] | None = None
        self.lost_hooks: list[t.Callable[[], None]] = []
        """Called (from the heartbeat's thread) once the lease was found lost: a watcher looks at once."""

    @functools.cached_property
    def start_checkpoint(self) -> Checkpoint | None:
        """The checkpoint of the session's start (its diffs' base), when one was taken: by the launch, or by an
        adoption that captured a fresh baseline; read once, on first use, whichever made the session."""
        return checkpoints.Store(self.ws).start_of(self.session_id)

    @property
    def session_id(self) -> str:
        return self.facts.session_id

    @property
    def agent(self) -> str:
        return self.facts.agent

    @property
    def mode(self) -> str:
        return self.facts.mode

    @property
    def baseline(self) -> manifests.Manifest:
        return self.facts.baseline

    def __repr__(self) -> str:
        return f"OwnedSession({self.ws.name!r}, {self.session_id!r}, {self.facts.ownership})"

    def on_lost(self, why: str) -> None:
        self.lost = why
        self.ctx.say(f"warning: task {self.ws.name}: lost ownership ({why}); the new owner will record the session")
        records.event(self.ws, "warning", message=f"lease lost: {why}", session_id=self.lease.session_id)
        for hook in self.lost_hooks:
            hook()

    def attach_failed(self, why: str) -> None:
        """A terminal could not attach to the session (the event log keeps it)."""
        records.event(self.ws, "attach_failed", error=why, session_id=self.session_id)

    # -- direct mode ------------------------------------------------------------------------------

    def start_direct(self, argv: list[str], env: dict[str, str], cwd: str) -> None:
        self._child = subprocess.Popen(argv, cwd=cwd, env=env)

    # -- watching ---------------------------------------------------------------------------------

    def check(self, panes: dict[str, PaneState]) -> EndState | None:
        """Has the session ended, given one snapshot of tmux?"""
        if self._child is not None:
            code = self._child.poll()
            if code is None:
                return None
            return EndState(EndReason.AGENT_EXITED, None, exit_status=code, detected_via="wait")
        pane = panes.get(self.ws.tmux_session)
        if pane is None:
            gone = self.ctx.tmux.server_gone()
            return EndState(EndReason.TMUX_SERVER_GONE if gone else EndReason.TMUX_SESSION_ENDED, None)
        if pane.dead:
            return EndState(EndReason.AGENT_EXITED, pane)
        return None

    def wait(self, *, interrupted: threading.Event | None = None) -> EndState | None:
        """Watch until the session ends; None if interrupted or ownership was lost.

        tmux signals the owner's ``wait-for`` channel the moment the agent
        dies (the session's ``pane-died`` hook), so the end is seen at once;
        between signals a look every ``poll_interval`` (a second at most)
        catches the rest (a killed session, an exit tmux missed, a lost
        lease, an interrupt).
        """
        if self._child is not None:
            while True:
                try:
                    code = self._child.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    if interrupted is not None and interrupted.is_set():
                        return None
                    continue
                return EndState(EndReason.AGENT_EXITED, None, exit_status=code, detected_via="wait")
        tmux = self.ctx.tmux
        while True:
            if self.lost is not None:
                return None
            panes = tmux.panes()
            end = self.check(panes)
            if end is not None:
                return end
            if self.turn_over(panes.get(self.ws.tmux_session)):
                self.checkpoint_turn()
            if interrupted is not None and interrupted.is_set():
                return None
            tmux.wait_for(self.ctx.exit_channel, min(self.ctx.config.poll_interval, EXIT_LOOK))

    def turn_over(self, pane: PaneState | None) -> bool:
        """Whether the agent's turn ended since the last call (SPEC 3.13): ``working`` → ``idle``, or a hook saying
        ``idle`` anew (a turn quicker than the looks between them)."""
        record = activities.read_record(self.ws)
        now = activities.current(record, pane, idle_after=self.ctx.config.idle_after)
        seen = (now.state, now.source, now.since) if now is not None else None  # a hook's since is exact
        before, self._activity = self._activity, seen
        return activities.turn_ended(before, seen)

    def checkpoint_turn(self) -> Checkpoint | None:
        """The checkpoint of a turn's end (none when the turn changed nothing)."""
        if self.done or self.lost is not None:
            return None
        return review.take_quietly(self.ctx, self.ws, "turn", session_id=self.session_id)

    def live_diff(self) -> manifests.Diff:
        return manifests.diff(self.facts.baseline, self.ctx.capture(self.ws, None))

    def watched_dirs(self) -> list[str]:
        """Where a change can change :meth:`live_diff` or :meth:`git_view`: the agent's tree and, for a repo
        task, its worktree's administrative directory (a commit changes no file in the tree)."""
        return [self.ws.tree_dir, *(gitview.admin_dirs(self.facts.repo) if self.facts.repo is not None else ())]

    def git_view(self) -> dict[str, t.Any] | None:
        """Git's view of a repo task now, as ``ctask diff`` shows it; None for a task without a repository."""
        return gitview.view(self.facts.repo) if self.facts.repo is not None else None

    # -- ending -----------------------------------------------------------------------------------

    def release(self, why: str = "released") -> None:
        """Stop heartbeating and remove our lease; the session keeps running unowned."""
        with self._mutex:
            if self.done:
                return
            self.done = True
        let_go(self.ctx, self.ws, self.lease.session_id, why)

    def finalize(self, end: EndState, *, detected_via: str | None = None) -> dict[str, t.Any] | None:
        """Record the ended session; None if someone else owns it now or the task is gone (``lost`` says which)."""
        with self._mutex:
            if self.done:
                return None
            self.done = True
        self.ctx.heartbeats.remove(self.ws)
        self.ctx.fault("finalize.start")
        if detected_via is not None:
            end.detected_via = detected_via
        try:
            return self._finalize_locked(end)
        except TaskNotFound:
            self.lost = REMOVED_WHILE_RUNNING
            return None
        except FileNotFoundError:
            if self.ws.root.is_dir():
                raise
            self.lost = REMOVED_WHILE_RUNNING  # `rm --force` went on without the lock while this recorded
            return None

    def _finalize_locked(self, end: EndState) -> dict[str, t.Any] | None:
        ws = self.ws
        with write_lock(ws.lock_path, self.ctx.config.lock_timeout * 3) as held:
            if not held:
                self.ctx.say(
                    f"warning: could not lock task {ws.name} to finalize; the next `ctask list` will record it"
                )
                return None
            if not is_ours(ws, self.lease.session_id):
                if not ws.task_yaml.exists():
                    self.lost = REMOVED_WHILE_RUNNING
                else:
                    self.lost = self.lost or "another process took the session over and records it"
                return None
            stop = markers.stop_requested(ws, self.session_id)
            if stop is not None:
                end.reason = EndReason.STOPPED
                end.ended_at = markers.stop_time(stop)
                if stop.get("last_lines") and not end.last_lines:
                    end.last_lines = list(stop["last_lines"])
            return record(self.ctx, ws, self.facts, end)


def let_go(ctx: Context, ws: Workspace, lease_sid: str, why: str) -> None:
    """Stop heartbeating ``ws`` and remove our lease (``lease_sid``); its session keeps running unowned."""
    ctx.heartbeats.remove(ws)
    with contextlib.suppress(TaskNotFound), write_lock(ws.lock_path, ctx.config.lock_timeout) as held:
        if held:
            ctx.release_lease(ws, lease_sid, reason=why)
