"""Watching the tasks' control directories: a hook's ``activity.json`` or a new ``lease.yaml`` seen at once.

Each task's control directory is watched on its own, not recursively: the
agent's tree (``work/``) lives inside it and may hold a ``node_modules`` of
100,000 directories, none of which concerns us.  The watch is watchdog's
native observer (inotify on Linux, FSEvents on macOS, kqueue on the BSDs),
asked only for renames and deletions, and acts on two names:
``activity.json`` (a hook, SPEC 3.10) and ``lease.yaml`` (any owner), both
only ever replaced by rename (:func:`ctask_ls.core.hook.record`,
:func:`ctask_ls.core.storage.atomic_write`) or removed.  Reads, the server's
own included, and writes to temporary or lock files are never events, so
looking at a file cannot wake the watch again, and a heartbeat costs one
event.

Where no native observer exists, or the kernel refuses a watch (inotify's
``max_user_watches``), :attr:`ControlWatch.complete` is False and the
server's quick looks (every 0.5 s) cover those files instead: polling is the
fallback, never watchdog's own snapshot poller, which would re-list every
control directory each second.

The agent's tree itself is watched only while this server owns its session
(:class:`TreeWatch`), recursively, so a live diff is computed only after
something in it changed.
"""

from __future__ import annotations

import logging
import os
import threading
import typing as t

if t.TYPE_CHECKING:
    from watchdog.events import FileSystemEvent
    from watchdog.observers.api import BaseObserver, ObservedWatch

logger = logging.getLogger("ctask_ls.server.watch")

LEASE = "lease.yaml"
WATCHED_NAMES = frozenset({"activity.json", LEASE})
"""The control files whose change is worth a look at once."""


class ControlWatch:
    """Calls ``on_change(control_dir)`` (from watchdog's thread) when a watched file of that directory changed."""

    def __init__(self, on_change: t.Callable[[str], None]) -> None:
        self._on_change = on_change
        self._observer: BaseObserver | None = None
        self._watches: dict[str, ObservedWatch] = {}
        self._failed: set[str] = set()
        self._lock = threading.Lock()
        self._handler: t.Any = None
        self._filter: list[type[FileSystemEvent]] = []
        self.available = False
        """A native observer runs."""
        self.own_leases: frozenset[str] = frozenset()
        """Control directories whose lease this server holds: its own heartbeats there are no news (and
        a look would race the heartbeat's cache update and parse every lease it writes)."""

    @property
    def complete(self) -> bool:
        """Every directory asked for is watched natively: no polling of these files is needed."""
        return self.available and not self._failed

    def start(self) -> bool:
        """Start the native observer; False (and polling instead) where there is none."""
        try:
            from watchdog.events import FileDeletedEvent, FileMovedEvent, FileSystemEventHandler
            from watchdog.observers import Observer
            from watchdog.observers.polling import PollingObserver
        except Exception as exc:  # noqa: BLE001 - watching is an optimisation: poll instead
            logger.info("no file watching (%s: %s); polling the control files", type(exc).__name__, exc)
            return False
        if Observer is PollingObserver:
            logger.info("no native file watching on this platform; polling the control files")
            return False
        on_change = self._on_change
        watch = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                for raw in (event.src_path, getattr(event, "dest_path", "")):
                    path = os.fsdecode(raw)
                    head, _, name = path.rpartition("/")
                    if name in WATCHED_NAMES:
                        if name != LEASE or head not in watch.own_leases:
                            on_change(head)
                        return

        self._handler = Handler()
        # Renames and deletes only: both files are only ever replaced by rename (hooks, atomic_write) or
        # removed, so the kernel need not report the temporary files' creation and writes, nor the lock
        # file's every open and close (a heartbeat is then one event, not five).
        self._filter = [FileMovedEvent, FileDeletedEvent]
        try:
            observer = Observer()
            observer.daemon = True
            observer.start()
        except Exception as exc:  # noqa: BLE001 - e.g. inotify instances exhausted
            logger.warning("file watching failed to start (%s: %s); polling the control files", type(exc).__name__, exc)
            return False
        self._observer = observer
        self.available = True
        return True

    def sync(self, dirs: t.Iterable[str]) -> None:
        """Watch exactly ``dirs`` (the control directories of the tasks known now); any thread."""
        observer = self._observer
        if observer is None:
            return
        wanted = set(dirs)
        with self._lock:
            for gone in self._watches.keys() - wanted:
                watch = self._watches.pop(gone)
                try:
                    observer.unschedule(watch)
                except Exception:
                    logger.debug("unwatching %s failed", gone, exc_info=True)
            self._failed &= wanted
            for path in wanted - self._watches.keys() - self._failed:  # a refused watch stays polled
                try:
                    self._watches[path] = observer.schedule(
                        self._handler, path, recursive=False, event_filter=self._filter
                    )
                except Exception as exc:  # noqa: BLE001 - a watch limit or a directory removed meanwhile
                    logger.warning("cannot watch %s (%s); polling it", path, exc)
                    self._failed.add(path)

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        self.available = False
        _stop(observer, "the file watch")


TREE_EVENTS: tuple[str, ...] = (
    "FileCreatedEvent",
    "DirCreatedEvent",
    "FileDeletedEvent",
    "DirDeletedEvent",
    "FileMovedEvent",
    "DirMovedEvent",
    "FileModifiedEvent",
    "FileClosedEvent",
)
"""What changes a tree's diff: creations, deletions, renames, writes and metadata changes.  Not opens, reads
or directory listings, so the server's own capture of the tree is never an event (it would wake itself)."""


class TreeWatch:
    """Marks an owned session's tree as changed (``on_change()`` from watchdog's thread) when anything in it changes.

    One recursive native watch per owned session's tree (and, for a repo
    task, its worktree's administrative directory, where a commit shows).
    Where there is no native observer or the kernel refuses the watch
    (``max_user_watches`` is per user), :meth:`watch` says False and the
    caller looks at the tree on its old schedule instead.
    """

    def __init__(self) -> None:
        self._observer: BaseObserver | None = None
        self._started = False
        self._watches: dict[str, list[ObservedWatch]] = {}
        self._lock = threading.Lock()

    def _start(self) -> BaseObserver | None:
        if self._started:
            return self._observer
        self._started = True
        try:
            from watchdog.observers import Observer
            from watchdog.observers.polling import PollingObserver

            if Observer is PollingObserver:  # re-listing whole trees every second is no saving
                return None
            observer = Observer()
            observer.daemon = True
            observer.start()
        except Exception as exc:  # noqa: BLE001 - watching is an optimisation
            logger.info("no tree watching (%s: %s); live diffs on a timer", type(exc).__name__, exc)
            return None
        self._observer = observer
        return observer

    def watch(self, key: str, dirs: t.Sequence[str], on_change: t.Callable[[], None]) -> bool:
        """Watch ``dirs`` recursively for ``key``; False (nothing watched) when any of them cannot be."""
        from watchdog import events

        class Handler(events.FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                on_change()

        event_filter = [getattr(events, name) for name in TREE_EVENTS]
        with self._lock:
            observer = self._start()
            if observer is None:
                return False
            handler = Handler()
            made: list[ObservedWatch] = []
            try:
                for path in dirs:
                    made.append(observer.schedule(handler, path, recursive=True, event_filter=event_filter))  # noqa: PERF401 - the ones made before a failure are undone
            except Exception as exc:  # noqa: BLE001 - a watch limit, or the tree went away
                logger.warning("cannot watch %s (%s); live diffs on a timer", key, exc)
                self._unschedule(observer, made)
                return False
            self._unschedule(observer, self._watches.pop(key, []))  # a session of the task watched before
            self._watches[key] = made
            return True

    def unwatch(self, key: str) -> None:
        with self._lock:
            made = self._watches.pop(key, [])
            if self._observer is not None:
                self._unschedule(self._observer, made)

    @staticmethod
    def _unschedule(observer: BaseObserver, made: list[ObservedWatch]) -> None:
        for one in made:
            try:
                observer.unschedule(one)
            except Exception:
                logger.debug("unwatching %s failed", one.path, exc_info=True)

    def stop(self) -> None:
        with self._lock:
            observer, self._observer = self._observer, None
            self._watches.clear()
        _stop(observer, "the tree watch")


def _stop(observer: BaseObserver | None, what: str) -> None:
    """Stop a watchdog observer and its threads (bounded); a failure only logged: the server is closing."""
    if observer is None:
        return
    try:
        observer.stop()
        observer.join(2.0)
    except Exception:
        logger.debug("stopping %s failed", what, exc_info=True)
