"""Watching the tasks' control directories: a hook's ``activity.json`` or a new ``lease.yaml`` seen at once.

Each task's control directory is watched on its own, not recursively: the
agent's tree (``work/``) lives inside it and may hold a ``node_modules`` of
100,000 directories, none of which concerns us.  The watch is inotify
through asyncinotify, read on the server's event loop (no thread: the
events of a moment, such as every heartbeat of one beat, are one wake-up),
asked only for renames into the directory and deletions, and acts on two
names: ``activity.json`` (a hook, SPEC 3.10) and ``lease.yaml`` (any owner),
both only ever replaced by rename (:func:`ctask_ls.core.hook.record`,
:func:`ctask_ls.core.storage.atomic_write`) or removed.  Reads, the server's
own included, and writes to temporary or lock files are never events, so
looking at a file cannot wake the watch again.  The directory of all tasks is
watched too, for tasks made, renamed or removed by another process.

Where inotify is missing (not Linux) or the kernel refuses a watch
(``max_user_watches``), :attr:`ControlWatch.complete` is False and the
server's quick looks (every 0.5 s) and polls cover those files instead:
polling is the fallback.

The agent's tree itself is watched only while this server owns its session
(:class:`TreeWatch`), recursively, with watchdog's native observer (inotify,
FSEvents, kqueue), so a live diff is computed only after something in it
changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import typing as t
import weakref

if t.TYPE_CHECKING:
    import concurrent.futures

    from asyncinotify import Event, Inotify, Watch
    from watchdog.events import FileSystemEvent
    from watchdog.observers.api import BaseObserver, ObservedWatch

logger = logging.getLogger("ctask_ls.server.watch")

LEASE = "lease.yaml"
WATCHED_NAMES = frozenset({"activity.json", LEASE})
"""The control files whose change is worth a look at once."""


class ControlWatch:
    """Calls ``on_change(control_dir)`` when a watched file of that directory changed, and ``on_tasks()`` when a
    task directory was made, renamed or removed (both on the event loop)."""

    def __init__(self, on_change: t.Callable[[str], None], on_tasks: t.Callable[[], None] | None = None) -> None:
        self._on_change = on_change
        self._on_tasks = on_tasks
        self._inotify: Inotify | None = None
        self._reader: concurrent.futures.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watches: dict[str, Watch] = {}
        self._failed: set[str] = set()
        self._tasks: tuple[str, Watch] | None = None
        self._tasks_missing = False
        self._lock = threading.Lock()
        self.available = False
        """inotify watches."""
        self.own_leases: frozenset[str] = frozenset()
        """Control directories whose lease this server holds: its own heartbeats there are no news (and
        a look would race the heartbeat's cache update and parse every lease it writes)."""

    @property
    def complete(self) -> bool:
        """Every directory asked for is watched: no polling of these files is needed."""
        return self.available and not self._failed and not self._tasks_missing

    def start(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Start reading inotify on ``loop`` (any thread); False (and polling instead) where there is none."""
        try:
            from asyncinotify import Inotify

            inotify = Inotify()
        except Exception as exc:  # noqa: BLE001 - no inotify here (ImportError, OSError): poll instead
            logger.info("no file watching (%s: %s); polling the control files", type(exc).__name__, exc)
            return False
        self._inotify, self._loop = inotify, loop
        try:
            self._reader = asyncio.run_coroutine_threadsafe(self._read(inotify), loop)
        except RuntimeError:  # the loop is closed: the server is going
            inotify.close()
            return False
        self.available = True
        return True

    async def _read(self, inotify: Inotify) -> None:
        async for event in inotify:
            try:
                self._event(event)
            except Exception:
                logger.exception("a file watch event failed")

    def _event(self, event: Event) -> None:
        from asyncinotify import Mask

        watch = event.watch
        if isinstance(watch, weakref.ref):
            watch = watch()
        tasks = self._tasks
        if watch is None or event.name is None:  # a watch removed, or an event of the directory itself
            if tasks is not None and tasks[1] is watch and Mask.IGNORED in event.mask:  # the directory went
                self._tasks, self._tasks_missing = None, True
            return
        head, name = str(watch.path), str(event.name)
        if tasks is not None and tasks[1] is watch:
            if self._on_tasks is not None:
                self._on_tasks()
        elif name in WATCHED_NAMES and (name != LEASE or head not in self.own_leases):
            self._on_change(head)

    def sync(self, dirs: t.Iterable[str], tasks_dir: str | None = None) -> None:
        """Watch exactly ``dirs`` (the control directories of the tasks known now), and ``tasks_dir`` for tasks
        made, renamed or removed (``on_tasks``); any thread."""
        inotify = self._inotify
        if inotify is None:
            return
        from asyncinotify import Mask

        wanted = set(dirs)
        with self._lock:
            if tasks_dir is not None and self._on_tasks is not None:
                self._sync_tasks(inotify, tasks_dir)
            for gone in self._watches.keys() - wanted:
                with contextlib.suppress(OSError, ValueError):  # the directory went, and its watch with it
                    inotify.rm_watch(self._watches[gone])
                del self._watches[gone]
            self._failed &= wanted
            for path in wanted - self._watches.keys() - self._failed:  # a refused watch stays polled
                try:
                    self._watches[path] = inotify.add_watch(path, Mask.MOVED_TO | Mask.DELETE | Mask.ONLYDIR)
                except (OSError, ValueError) as exc:  # a watch limit, or a directory removed meanwhile
                    logger.warning("cannot watch %s (%s); polling it", path, exc)
                    self._failed.add(path)

    def _sync_tasks(self, inotify: Inotify, tasks_dir: str) -> None:
        """Watch the directory of all tasks (a task made by another process is looked at at once); while it
        does not exist, or cannot be watched, the watch is not complete (every poll looks)."""
        from asyncinotify import Mask

        if self._tasks is not None and self._tasks[0] == tasks_dir:
            return
        if self._tasks is not None:
            with contextlib.suppress(OSError, ValueError):
                inotify.rm_watch(self._tasks[1])
            self._tasks = None
        kinds = Mask.CREATE | Mask.DELETE | Mask.MOVED_FROM | Mask.MOVED_TO | Mask.ONLYDIR
        try:
            self._tasks = (tasks_dir, inotify.add_watch(tasks_dir, kinds))
        except (OSError, ValueError) as exc:  # not made yet (no task ever), or a watch limit
            if os.path.isdir(tasks_dir):
                logger.warning("cannot watch %s (%s); polling it", tasks_dir, exc)
            self._tasks_missing = True
            return
        self._tasks_missing = False

    def stop(self) -> None:
        inotify, self._inotify = self._inotify, None
        reader, self._reader = self._reader, None
        self.available = False
        if reader is not None:
            reader.cancel()
        if inotify is None:
            return
        loop = self._loop
        try:  # after the reader's cancellation, which removes its reader from the loop
            if loop is None or loop.is_closed():
                raise RuntimeError
            loop.call_soon_threadsafe(inotify.close)
        except RuntimeError:
            inotify.close()


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
