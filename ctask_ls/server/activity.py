"""``ctask/activity``: what each task's agent is doing, sent on every change (SPEC 3.10).

The lease watcher (:mod:`.leases`) calls :meth:`ActivityNotifier.look` for
each task on every pass, with the pass's tmux snapshot, and for one task at
once when its ``activity.json`` or ``lease.yaml`` changed (:mod:`.watch`):
a hook's ``needs_input`` reaches the client within milliseconds, while
activity read from the pane's output (``working`` → ``idle`` after
``idleAfter``) follows the regular passes.  The activity itself is the
core's (:meth:`ctask_ls.core.api.Core.activity`): one small file read per
look, nothing else.

A change is a new state, source or message, or a new conversation id;
``since`` moving on its own (a working agent's output) is not.  Each look
reads, compares and sends under one lock, so two looks at one task (a pass
on the background thread, a watched change on the loop) never send an older
activity after a newer one.
"""

from __future__ import annotations

import threading
import typing as t

from ctask_ls.core.api import turn_ended

from . import protocol

if t.TYPE_CHECKING:
    from ctask_ls.core.api import PaneState, Workspace

    from .server import CtaskServer


ChangeKey = tuple[tuple[str, str, "str | None"] | None, "str | None"]
"""(state, source, message) or None, and the conversation id: what counts as a change."""
NOTHING: ChangeKey = (None, None)


class ActivityNotifier:
    """Sends ``ctask/activity`` when a task's activity or conversation id changed."""

    def __init__(self, server: CtaskServer) -> None:
        self.server = server
        self.last: dict[str, ChangeKey] = {}
        """By control directory: what the client was told last (a task never told anything: NOTHING)."""
        self._lock = threading.Lock()
        self.on_turn_end: list[t.Callable[[Workspace], None]] = []
        self.seen: dict[str, tuple[str, str, t.Any] | None] = {}
        """By control directory: the activity looked at last, with its ``since`` (what ends a turn)."""
        """Called (from the looking thread) when a task's agent goes from ``working`` to ``idle``."""

    def look(self, ws: Workspace, pane: PaneState | None) -> None:
        """Compute ``ws``'s activity from its hooks' record and ``pane``; send it when it changed.

        Every task on every pass: the payload is built only for a change.
        """
        with self._lock:
            now, conversation = self.server.core.activity(ws, pane)
            key: ChangeKey = (None if now is None else (now.state, now.source, now.message), conversation)
            seen = (now.state, now.source, now.since) if now is not None else None
            if turn_ended(self.seen.get(ws.dir), seen):
                for hook in self.on_turn_end:
                    hook(ws)
            self.seen[ws.dir] = seen
            before = self.last.get(ws.dir, NOTHING)
            if before == key:
                return
            self.last[ws.dir] = key
            note = protocol.ActivityNotification(
                name=ws.name,
                workspace=ws.tree_dir,
                activity=None if now is None else protocol.Activity(**now.to_json()),
                conversation_id=conversation,
            )
            self.server.notify(protocol.ACTIVITY, note.to_json())

    def keep(self, keys: t.Collection[str]) -> None:
        """Forget the tasks not in ``keys`` (removed); a task that comes back is new."""
        with self._lock:
            for key in self.last.keys() - set(keys):
                del self.last[key]
            for key in self.seen.keys() - set(keys):
                del self.seen[key]


def setup(server: CtaskServer) -> ActivityNotifier:
    """The notifier; the lease watcher drives it (it has each pass's tasks and tmux snapshot)."""
    return ActivityNotifier(server)
