"""Notifications (server -> client) and the JSON objects on the wire, one dataclass each.

Keys are snake_case and times RFC 3339 UTC, as in the CLI's ``--json``.

**One lease shape.** A task's lease is the same :class:`Lease` object
wherever it appears: ``lease`` of a task object (``ctask.list``,
``ctask.status``, ``ctask list --json``), ``session.lease`` of a launch result,
and ``lease`` of ``ctask/leaseState``.  A ``ctask/leaseState`` is the part of
a task object that a lease change can change (``name``, ``workspace``,
``lease``, ``tmux_session``, ``tmux_alive``) plus what only this server knows
(``owned_here``), so a client merges it into the task it knows as it is,
with nothing to flatten or rename.

The core builds the lease object (:meth:`ctask_ls.core.lease.LeaseInfo.to_json`)
and the task object; :class:`Lease` and :class:`Task` describe them for the
clients and docs, and the tests check that the core's JSON has exactly these
fields.
"""

from __future__ import annotations

import dataclasses
import operator
import re
import typing as t

from ctask_ls.core import activity as core_activity
from ctask_ls.core import lease as core_leases

LEASE_STATE = "ctask/leaseState"
DIFF_NOTIFICATION = "ctask/diff"
SESSION_ENDED = "ctask/sessionEnded"
ACTIVITY = "ctask/activity"

NOTIFICATIONS: tuple[str, ...] = (LEASE_STATE, DIFF_NOTIFICATION, SESSION_ENDED, ACTIVITY)
"""Every notification, server to client only."""

LEASE_STATES: tuple[str, ...] = core_leases.STATES
"""``missing``, ``stale``, ``fresh_local``, ``fresh_remote`` (SPEC 3.2)."""

ACTIVITY_STATES: tuple[str, ...] = core_activity.STATES
"""``working``, ``needs_input``, ``idle``, ``exited`` (SPEC 3.10)."""
ACTIVITY_SOURCES: tuple[str, ...] = (core_activity.HOOK, core_activity.OUTPUT)
"""``hook`` (the agent's own hooks said so) or ``output`` (tmux: the pane's output or silence)."""

LeaseStateName: t.TypeAlias = str
"""One of :data:`LEASE_STATES`."""
ActivityStateName: t.TypeAlias = str
"""One of :data:`ACTIVITY_STATES`."""
ActivitySourceName: t.TypeAlias = str
"""One of :data:`ACTIVITY_SOURCES`."""
LaunchActionName: t.TypeAlias = str
"""One of :data:`ctask_ls.protocol.commands.LAUNCH_ACTIONS`."""
Counts: t.TypeAlias = dict[str, int]
"""``{added, modified, deleted}``: numbers of files (or bytes) per kind of change."""
Summary: t.TypeAlias = dict[str, t.Any]
"""A finished session's summary, as ``summary.yaml`` holds it (see docs/server.md)."""
GitView: t.TypeAlias = dict[str, t.Any]
"""Git's view of a repo task: ``{repo, branch, worktree, base, head, commits, committed, uncommitted, counts}``
(or ``{..., error}``)."""
Env: t.TypeAlias = dict[str, str]
"""Environment variables."""
AgentMapping: t.TypeAlias = dict[str, t.Any]
"""An agent spec: ``{command, args, env}``."""


def _compact(data: dict[str, t.Any]) -> dict[str, t.Any]:
    return {k: v for k, v in data.items() if v is not None}


@dataclasses.dataclass(frozen=True)
class Lease:
    """A task's lease: ``lease`` of task objects, launch results and ``ctask/leaseState``."""

    state: LeaseStateName
    """``missing`` | ``stale`` | ``fresh_local`` | ``fresh_remote``."""
    reason: str | None = None
    """Why the lease is stale."""
    session_id: str | None = None
    """The lease holder's session id (``<host>-<pid>-<unix start>``); this and the fields below are present
    only when there is a readable lease file."""
    host: str | None = None
    """The host of the process that holds the lease."""
    pid: int | None = None
    """Its process id."""
    agent: str | None = None
    """The launched command, for diagnostics."""
    mode: str | None = None
    """``persistent`` (tmux) or ``direct``."""
    tmux_session: str | None = None
    """The tmux session the holder runs the agent in."""
    started_at: str | None = None
    """When the session started."""
    heartbeat_at: str | None = None
    """The holder's last heartbeat.  Moving on its own is no change worth a notification: clients compute the
    age from it."""
    owner: str | None = None
    """``cli`` or ``server``."""
    age_s: float | None = None
    """Seconds since the heartbeat when this was sent (0.1 s steps); later, clients compute it from
    ``heartbeat_at``."""

    def to_json(self) -> dict[str, t.Any]:
        return _compact(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class Activity:
    """What a running session's agent is doing (SPEC 3.10): ``activity`` of task objects and ``ctask/activity``."""

    state: ActivityStateName
    """``working`` | ``needs_input`` (waits for the user: a permission prompt, a question) | ``idle`` |
    ``exited`` (the agent ended; the session is being recorded)."""
    since: str
    """When the agent entered this state (for ``output``: its pane's last output)."""
    source: ActivitySourceName
    """``hook`` (the agent's own hooks said so) or ``output`` (tmux: the pane's output, or ``idleAfter`` seconds
    of silence)."""
    message: str | None = None
    """A hook's text, such as the permission asked for; absent when there is none."""


@dataclasses.dataclass(frozen=True)
class Repo:
    """``repo`` of a task made on a git repository."""

    path: str
    """The repository's top level."""
    branch: str
    """The task's branch."""
    base: str | None
    """The commit the branch was made from."""
    base_ref: str | None
    """The ref given for it (``HEAD``, ``main``, ...)."""
    worktree: str
    """The task's worktree, inside its workspace; the agent runs there."""


@dataclasses.dataclass(frozen=True)
class Task:
    """A task object: ``ctask.list`` items, ``ctask.status`` (as ``ctask list --json``)."""

    name: str
    """The task's name."""
    workspace: str
    """Absolute path of the task's control directory."""
    lease: Lease
    """The task's lease."""
    tmux_session: str
    """The name of the task's tmux session."""
    tmux_alive: bool
    """The tmux session exists and its agent is running."""
    updated_at: str | None
    """When task.yaml last changed."""
    created_at: str | None
    """When the task was created."""
    description: str | None
    """One line about the task."""
    agent: AgentMapping | None
    """The task's agent ``{command, args, env}``; ``env`` names its variables, each value ``"<hidden>"``."""
    provisional: bool | None
    """A task whose first launch has not finished yet."""
    repo: Repo | None
    """The git repository and branch of a repo task; null for a plain task."""
    last_summary: Summary | None
    """The last finished session's summary (without its ``last_lines``)."""
    activity: Activity | None
    """What the running session's agent is doing; null without a running session."""
    conversation_id: str | None
    """The agent's own conversation id as its hooks reported it (``claude --resume`` / ``codex resume`` take
    it); the last session's after it ended; null when no hook said one."""
    error: str | None = None
    """``ctask.list`` only: the task's metadata is corrupt (its path, the error, what to do)."""


@dataclasses.dataclass(frozen=True)
class Terminal:
    """What an editor runs in its own terminal to attach to a task's tmux session."""

    name: str
    """The terminal's title (``ctask: NAME``)."""
    command: str
    """The tmux executable."""
    args: list[str]
    """``-L NAME`` (or ``-S PATH``) ``attach-session -t =SESSION``."""
    cwd: str
    """The task's worktree for a repo task, else its workspace."""
    env: Env
    """Variables to set (``TMUX`` empty, so it works from inside tmux too)."""


@dataclasses.dataclass(frozen=True)
class LaunchSession:
    """``session`` of a launch result."""

    session_id: str | None
    """The session this server owns; null when another process owns it (``passive``)."""
    tmux_session: str
    """The name of the task's tmux session."""
    lease: Lease
    """The task's lease after the launch."""


@dataclasses.dataclass(frozen=True)
class LaunchResult:
    """What ``ctask.new``, ``ctask.resume``, ``ctask.last`` and ``ctask.attach`` return (as the CLI's ``--json``)."""

    task: str
    """The task's name."""
    action: LaunchActionName
    """``launched``, ``adopted``, ``passive`` (another live process owns the session; attaching is still fine) or
    ``owned`` (this server already owns it)."""
    session: LaunchSession
    terminal: Terminal


@dataclasses.dataclass(frozen=True)
class LeaseState:
    """Params of ``ctask/leaseState``: one task's lease as this server sees it; a part of a task object."""

    name: str
    """The task's name."""
    workspace: str
    """Absolute path of the task's control directory."""
    lease: Lease
    """The task's lease, the same object as ``lease`` of its task object."""
    tmux_session: str
    """The name of the task's tmux session."""
    tmux_alive: bool
    """The tmux session exists and its agent is running."""
    owned_here: bool
    """This server process holds the lease (it heartbeats and will finalize); only notifications say so."""
    error: str | None = None
    """A corrupt lease or task.yaml, with its path and what to do."""
    removed: bool | None = None
    """True once: the task's workspace is gone."""

    def to_json(self) -> dict[str, t.Any]:
        data = {f: getattr(self, f) for f in _FIELDS}
        data["lease"] = self.lease.to_json()
        return _compact(data)

    def change_key(self) -> tuple[t.Any, ...]:
        """What counts as a change: everything but the heartbeat's own movement.

        Every field but the lease's ``heartbeat_at`` and ``age_s``, and the
        stale reason with its digits masked (a stale lease's age moves).  The
        server computes this for every task on every poll: fields are read at C
        speed, not via ``asdict``.
        """
        lease = self.lease
        reason = None if lease.reason is None else _DIGITS.sub("#", lease.reason)
        return (reason, *_CHANGE_FIELDS(self), *_LEASE_CHANGE_FIELDS(lease))


_DIGITS = re.compile(r"\d")
_FIELDS = tuple(f.name for f in dataclasses.fields(LeaseState))
_CHANGE_FIELDS = operator.attrgetter(*(f for f in _FIELDS if f != "lease"))
_LEASE_CHANGE_FIELDS = operator.attrgetter(
    *(f.name for f in dataclasses.fields(Lease) if f.name not in ("heartbeat_at", "age_s", "reason"))
)


@dataclasses.dataclass(frozen=True)
class DiffNotification:
    """Params of ``ctask/diff``: what changed since the owned session's baseline."""

    name: str
    """The task's name."""
    session_id: str | None
    """The session the diff belongs to."""
    final: bool
    """False while the session runs (live, at most every few seconds and only on change), True once at finalize."""
    added: list[str]
    """Paths relative to the agent's tree, ``/``-separated, sorted."""
    modified: list[str]
    """Paths whose kind, size, mtime, mode or link target changed."""
    deleted: list[str]
    """Paths gone since the baseline."""
    counts: Counts
    """The numbers of files (the lists are complete)."""
    bytes: Counts
    """Bytes per kind of change."""
    git: GitView | None = None
    """Git's view of a task on a git repository, as in ``ctask.diff`` results; absent for other tasks."""
    checkpoint: int | None = None
    """The checkpoint the diff compares against (the session's start, SPEC 3.13: ``ctask.fileAt`` gives its
    content, and with ``current`` the file as it is now); null when none was taken."""

    def to_json(self) -> dict[str, t.Any]:
        out = dataclasses.asdict(self)
        if self.git is None:
            del out["git"]
        return out


@dataclasses.dataclass(frozen=True)
class SessionEnded:
    """Params of ``ctask/sessionEnded``: the summary a finalized session left (as ``summary.yaml``)."""

    name: str
    """The task's name."""
    summary: Summary
    """The session's summary; sent after the final ``ctask/diff`` and before the ``ctask/leaseState`` that
    shows the lease gone."""

    def to_json(self) -> dict[str, t.Any]:
        return {"name": self.name, "summary": self.summary}


@dataclasses.dataclass(frozen=True)
class ActivityNotification:
    """Params of ``ctask/activity``: a task's activity or conversation id changed (state, source or message).

    Sent for every task with an activity or a conversation id once after
    ``initialized``, then on every change; ``since`` moving on its own (a
    working agent's output) is not a change.  ``activity`` null: the session
    is gone (recorded, or there never was one).
    """

    name: str
    """The task's name."""
    workspace: str
    """Absolute path of the task's control directory."""
    activity: Activity | None
    """The task's activity now, the same object as ``activity`` of its task object."""
    conversation_id: str | None
    """The agent's own conversation id, as in the task object."""

    def to_json(self) -> dict[str, t.Any]:
        return {
            "name": self.name,
            "workspace": self.workspace,
            "activity": None if self.activity is None else _compact(dataclasses.asdict(self.activity)),
            "conversation_id": self.conversation_id,
        }


PAYLOADS: dict[str, type] = {
    LEASE_STATE: LeaseState,
    DIFF_NOTIFICATION: DiffNotification,
    SESSION_ENDED: SessionEnded,
    ACTIVITY: ActivityNotification,
}
"""Notification -> the dataclass of its params."""
