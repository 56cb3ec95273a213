"""Names and payloads of the ``ctask-ls`` protocol (SPEC section 4), defined once.

The TypeScript and Lua clients mirror these names; change them together.

Commands go through ``workspace/executeCommand`` with exactly one object
argument (``arguments: [{...}]``); :data:`ARGUMENTS` says which keys each one
takes.  Notifications flow server to client only.
"""

from __future__ import annotations

import dataclasses
import operator
import re
import typing as t

# -- commands (workspace/executeCommand) ---------------------------------------------------

NEW = "ctask.new"
RESUME = "ctask.resume"
LAST = "ctask.last"
OPEN = "ctask.open"
ATTACH = "ctask.attach"
LIST = "ctask.list"
STATUS = "ctask.status"
STOP = "ctask.stop"
DIFF = "ctask.diff"
LOG = "ctask.log"
REMOVE = "ctask.remove"

COMMANDS: tuple[str, ...] = (NEW, RESUME, LAST, OPEN, ATTACH, LIST, STATUS, STOP, DIFF, LOG, REMOVE)
"""Every command, in the order the README lists them."""

LAUNCHING: frozenset[str] = frozenset({NEW, RESUME, LAST, ATTACH})
"""Commands that return ``{task, action, session, terminal}``."""

# -- notifications (server -> client) ----------------------------------------------------

LEASE_STATE = "ctask/leaseState"
DIFF_NOTIFICATION = "ctask/diff"
SESSION_ENDED = "ctask/sessionEnded"

NOTIFICATIONS: tuple[str, ...] = (LEASE_STATE, DIFF_NOTIFICATION, SESSION_ENDED)

# -- window/showMessageRequest answers for adopting a fresh_remote session -----------------

ADOPT = "Adopt"
CANCEL = "Cancel"

SETTINGS_SECTION = "ctask"
"""The settings section of ``workspace/didChangeConfiguration`` (``{"ctask": {...}}``)."""

# -- JSON-RPC error codes -------------------------------------------------------------------

INVALID_PARAMS = -32602
"""Bad arguments: ``data.kind`` is ``InvalidName`` or ``InvalidArgument``."""
REQUEST_FAILED = -32803
"""LSP's RequestFailed: valid arguments, but the command could not be done (``data.kind`` says why)."""
INTERNAL_ERROR = -32603
"""A bug in the server (``data.kind`` is ``InternalError``); the server keeps running."""
PARSE_ERROR = -32700
"""The message is not UTF-8 JSON (``id: null``)."""
INVALID_REQUEST = -32600
"""Not a JSON-RPC 2.0 request, a broken header, a message over the size limit, a second
``initialize``, or any request after ``shutdown``."""
METHOD_NOT_FOUND = -32601
SERVER_NOT_INITIALIZED = -32002
"""A request before ``initialize``: it was not executed."""
REQUEST_CANCELLED = -32800
"""``$/cancelRequest`` reached a command before it started (or shutdown did): nothing was done."""

ERROR_CODES: dict[str, int] = {
    "ParseError": PARSE_ERROR,
    "InvalidRequest": INVALID_REQUEST,
    "InvalidHeader": INVALID_REQUEST,
    "MessageTooLarge": INVALID_REQUEST,
    "AlreadyInitialized": INVALID_REQUEST,
    "ServerShutDown": INVALID_REQUEST,
    "ServerNotInitialized": SERVER_NOT_INITIALIZED,
    "MethodNotFound": METHOD_NOT_FOUND,
    "InvalidParams": INVALID_PARAMS,
    "UnknownCommand": INVALID_PARAMS,
    "RequestCancelled": REQUEST_CANCELLED,
    "InternalError": INTERNAL_ERROR,
}
"""``data.kind`` -> code of the errors the JSON-RPC layer answers by itself (:mod:`.rpc`)."""


@dataclasses.dataclass(frozen=True)
class Arg:
    """One key of a command's object argument."""

    name: str
    kind: str
    """``name`` (a task name), ``str``, ``bool``, ``int`` (non-negative) or ``strlist``."""
    required: bool = False


ARGUMENTS: dict[str, tuple[Arg, ...]] = {
    NEW: (
        Arg("name", "name", required=True),
        Arg("agent", "str"),
        Arg("description", "str"),
        Arg("args", "strlist"),
        Arg("repo", "str"),
        Arg("branch", "str"),
        Arg("base", "str"),
    ),
    RESUME: (Arg("name", "name", required=True), Arg("agent", "str")),
    LAST: (Arg("agent", "str"),),
    OPEN: (Arg("name", "name", required=True),),
    ATTACH: (Arg("name", "name", required=True),),
    LIST: (),
    STATUS: (Arg("name", "name", required=True),),
    STOP: (Arg("name", "name", required=True),),
    DIFF: (Arg("name", "name", required=True),),
    LOG: (Arg("name", "name", required=True), Arg("limit", "int")),
    REMOVE: (Arg("name", "name", required=True), Arg("force", "bool"), Arg("delete_branch", "bool")),
}


def _compact(data: dict[str, t.Any]) -> dict[str, t.Any]:
    return {k: v for k, v in data.items() if v is not None}


@dataclasses.dataclass(frozen=True)
class LeaseState:
    """Params of ``ctask/leaseState``: one task's lease as this server sees it."""

    name: str
    workspace: str
    """Absolute path of the task's workspace."""
    state: str
    """``missing`` | ``stale`` | ``fresh_local`` | ``fresh_remote``."""
    tmux_session: str
    tmux_alive: bool
    """The task's tmux session exists and its agent is running."""
    owned_here: bool
    """This server process holds the lease (it heartbeats and will finalize)."""
    reason: str | None = None
    """Why the lease is stale."""
    session_id: str | None = None
    """The lease holder's session id (``<host>-<pid>-<unix start>``)."""
    host: str | None = None
    pid: int | None = None
    agent: str | None = None
    mode: str | None = None
    owner: str | None = None
    """``cli`` or ``server``."""
    started_at: str | None = None
    heartbeat_at: str | None = None
    """RFC 3339 UTC; moving on its own is not a change worth a notification."""
    age_s: float | None = None
    """Seconds since the heartbeat when this was sent; clients compute the age themselves later."""
    error: str | None = None
    """A corrupt lease or task.yaml, with its path and what to do."""
    removed: bool | None = None
    """True once: the task's workspace is gone."""

    def to_json(self) -> dict[str, t.Any]:
        return _compact(dataclasses.asdict(self))

    def change_key(self) -> tuple[t.Any, ...]:
        """What counts as a change: everything but the heartbeat's own movement.

        Every field but ``heartbeat_at`` and ``age_s``, and the reason with its
        digits masked (a stale lease's age moves).  The server computes this for
        every task on every poll: fields are read at C speed, not via ``asdict``.
        """
        reason = None
        if self.reason is not None:
            reason = _DIGITS.sub("#", self.reason)
        return (reason, *_CHANGE_FIELDS(self))


_DIGITS = re.compile(r"\d")
_CHANGE_FIELDS = operator.attrgetter(
    *(f.name for f in dataclasses.fields(LeaseState) if f.name not in ("heartbeat_at", "age_s", "reason"))
)


@dataclasses.dataclass(frozen=True)
class DiffNotification:
    """Params of ``ctask/diff``: what changed since the owned session's baseline."""

    name: str
    session_id: str | None
    final: bool
    """False while the session runs (live), True once at finalize."""
    added: list[str]
    modified: list[str]
    deleted: list[str]
    counts: dict[str, int]
    bytes: dict[str, int]
    git: dict[str, t.Any] | None = None
    """Git's view of a task on a git repository, as in ``ctask.diff`` results; absent for other tasks."""

    def to_json(self) -> dict[str, t.Any]:
        out = dataclasses.asdict(self)
        if self.git is None:
            del out["git"]
        return out


@dataclasses.dataclass(frozen=True)
class SessionEnded:
    """Params of ``ctask/sessionEnded``: the summary a finalized session left (as ``summary.yaml``)."""

    name: str
    summary: dict[str, t.Any]

    def to_json(self) -> dict[str, t.Any]:
        return {"name": self.name, "summary": self.summary}
