"""A running task's activity: working, needs_input, idle or exited (SPEC 3.10).

Two sources, best first:

- **hooks**: the agent's own events, recorded by :mod:`ctask_ls.core.hook` in
  ``activity.json``.  Once an agent's hooks have spoken for a session, they
  alone say what it does: a permission dialog or a finished turn is quiet on
  the screen, and only a hook can tell those apart.  Except for agents whose
  hooks report finished turns only (Codex's ``notify``): nothing says when
  their next turn starts, so output more than a second after the last
  report goes back to the output rule below.
- **output**, for every agent: tmux's ``window_activity``, the time the pane
  last wrote anything.  Output within ``idle_after`` seconds means
  ``working``, silence since means ``idle`` (its ``since`` is the last
  output).  Nothing is read off the screen.

An ended pane is ``exited`` until its session is recorded; a task with no
session has no activity.  Reading costs one small file read per task and
nothing per pane (the pane states come from the one ``list-panes`` call the
caller already made).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import typing as t

from ctask_ls.core import hook, timeutil
from ctask_ls.core.errors import CorruptMetadata
from ctask_ls.core.storage import FileKey, file_key, read_limited

if t.TYPE_CHECKING:
    from ctask_ls.core.tmux import PaneState
    from ctask_ls.core.workspace import Workspace

WORKING, NEEDS_INPUT, IDLE, EXITED = "working", "needs_input", "idle", "exited"
STATES = (WORKING, NEEDS_INPUT, IDLE, EXITED)
HOOK, OUTPUT = "hook", "output"
TURN_END_ONLY = hook.TURN_END_ONLY
"""Agents whose hooks say only that a turn finished (Codex ``notify``): later output is a new turn."""
FILE = hook.FILE
"""``activity.json`` in the control directory, written by the hooks."""


@dataclasses.dataclass(frozen=True)
class Activity:
    """What the agent of a running session is doing, since when, and who said so."""

    state: str
    since: dt.datetime
    source: str
    message: str | None = None

    def to_json(self) -> dict[str, t.Any]:
        data: dict[str, t.Any] = {"state": self.state, "since": timeutil.rfc3339(self.since), "source": self.source}
        if self.message:
            data["message"] = self.message
        return data


@dataclasses.dataclass(frozen=True)
class HookRecord:
    """``activity.json``: the last hook event of a session that counted."""

    session_id: str
    agent: str
    activity: Activity
    conversation_id: str | None
    at: float = 0.0
    """When the recorded activity began (Unix time; ``activity.since`` is the same instant, shown in whole
    seconds)."""


def turn_ended(before: tuple[str, str, t.Any] | None, now: tuple[str, str, t.Any] | None) -> bool:
    """Whether going from activity ``before`` to ``now`` (each ``(state, source, since)``) ends a turn: ``working``
    to ``idle``, or a hook's new ``idle`` (its ``since`` moved: a ``Stop`` after a turn too quick to be seen)."""
    if now is None or before is None or now[0] != IDLE:
        return False
    return before[0] == WORKING or (now[1] == HOOK and before[2] != now[2])


def record_key(ws: Workspace) -> FileKey | None:
    """The hooks' record's file key (None: there is none): when it is the same, so is the record."""
    return file_key(ws.control(FILE))


def read_record(ws: Workspace) -> HookRecord | None:
    """The hooks' record, None when there is none or it is unreadable (it is only ever shown)."""
    try:
        data = json.loads(read_limited(ws.control(FILE), 65536))
        state, since, sid = data["state"], data.get("at"), data["session_id"]
        if state not in STATES or not isinstance(sid, str) or not isinstance(since, (int, float)):
            return None
        message = data.get("message")
        conversation = data.get("conversation_id")
        return HookRecord(
            session_id=sid,
            agent=str(data.get("agent") or ""),
            activity=Activity(
                state,
                dt.datetime.fromtimestamp(since, dt.UTC),  # exact: two hook events within a second differ
                HOOK,
                message if isinstance(message, str) else None,
            ),
            conversation_id=conversation if isinstance(conversation, str) else None,
            at=float(since),
        )
    except (OSError, CorruptMetadata, ValueError, KeyError, TypeError, OverflowError):
        return None


def current(
    record: HookRecord | None,
    pane: PaneState | None,
    *,
    idle_after: float,
    now: float | None = None,
) -> Activity | None:
    """The activity of a task's session from its hooks' record and its pane; None without a session.

    The record counts when it is of the pane's session (tagged at launch,
    the ``CTASK_SESSION_ID`` its hooks were given); it outlives the session
    so that the conversation id stays known for a resume.
    """
    if pane is None:
        return None
    if pane.dead:
        ended = pane.dead_time if pane.dead_time is not None else (now if now is not None else _now())
        return Activity(EXITED, _time(ended), OUTPUT)
    last = pane.output_at
    if record is not None and pane.session_id is not None and record.session_id == pane.session_id:
        turn_started = record.agent in TURN_END_ONLY and last is not None and last > record.at + 1
        if not turn_started:
            return record.activity
    if last is None:
        return None
    now = now if now is not None else _now()
    return Activity(WORKING if now - last < idle_after else IDLE, _time(last), OUTPUT)


def _now() -> float:
    import time

    return time.time()


def _time(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=0)
