"""The heartbeat: one thread that renews every lease this process owns, every ``heartbeat_interval``."""

from __future__ import annotations

import dataclasses
import threading
import time
import typing as t

from ctask_ls.core.errors import TaskNotFound
from ctask_ls.core.lease import try_acquire_or_renew
from ctask_ls.core.storage import write_lock

if t.TYPE_CHECKING:
    from ctask_ls.core.lease import Lease, Written
    from ctask_ls.core.storage import FileKey
    from ctask_ls.core.workspace import Workspace


class HeartbeatService:
    """One thread that keeps every lease this process owns fresh.

    A lease is renewed every ``interval`` seconds under the write lock
    (:func:`try_acquire_or_renew`).  If it vanished or belongs to someone
    else, the session was taken over (stop, rm, adoption after we looked
    stale) and ``on_lost`` is called once; nothing is written.
    """

    def __init__(self, *, lock_timeout: float) -> None:
        self.lock_timeout = lock_timeout
        """How long a beat waits for the write lock (at most one interval); settable while running."""
        self._entries: dict[str, _Beat] = {}
        self._mutex = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(
        self,
        ws: Workspace,
        lease: Lease,
        interval: float,
        on_lost: t.Callable[[str], None] | None = None,
    ) -> None:
        with self._mutex:
            # On a grid of `interval`: every lease of this process beats in the same wake-up.
            first = (time.monotonic() // interval + 1) * interval
            self._entries[ws.dir] = _Beat(ws, lease, interval, first, on_lost)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ctask-heartbeat", daemon=True)
                self._thread.start()
        self._wake.set()

    def written_key(self, ws: Workspace) -> FileKey | None:
        """The file key of the lease this process last wrote for ``ws`` (None: it beats none there).

        While the lease file still has it, only our own heartbeat changed it.
        """
        with self._mutex:
            beat = self._entries.get(ws.dir)
            return beat.written[0] if beat is not None and beat.written is not None else None

    def remove(self, ws: Workspace) -> None:
        with self._mutex:
            self._entries.pop(ws.dir, None)

    def _run(self) -> None:
        while True:
            with self._mutex:
                if not self._entries:
                    self._thread = None
                    return
                due = [b for b in self._entries.values() if b.next_at <= time.monotonic()]
                wait = min(b.next_at for b in self._entries.values()) - time.monotonic()
            for beat in due:
                self._beat(beat)
            if not due:
                self._wake.wait(max(0.01, wait))  # add() wakes it for a lease due sooner
                self._wake.clear()

    def _beat(self, beat: _Beat) -> None:
        now = time.monotonic()
        beat.next_at = max(beat.next_at + beat.interval, (now // beat.interval) * beat.interval + beat.interval)
        lost: str | None = None
        try:
            with write_lock(beat.ws.lock_path, min(self.lock_timeout, beat.interval)) as held:
                if not held:
                    return  # skipped: try again at the next beat
                claim = try_acquire_or_renew(beat.ws, beat.lease, renew=True, last=beat.written)
                beat.written, lost = claim.written, claim.lost
        except (OSError, TaskNotFound) as exc:  # the workspace was removed under us
            lost = f"the workspace is gone ({exc})"
        if lost is not None:
            with self._mutex:
                if self._entries.get(beat.ws.dir) is beat:
                    del self._entries[beat.ws.dir]
            if beat.on_lost is not None:
                beat.on_lost(lost)


@dataclasses.dataclass
class _Beat:
    ws: Workspace
    lease: Lease
    """The lease as taken (its session id is what must still be there)."""
    interval: float
    next_at: float
    on_lost: t.Callable[[str], None] | None
    written: Written | None = None
    """The lease file we wrote last, and what we wrote."""
