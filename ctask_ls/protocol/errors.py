"""Errors on the wire: JSON-RPC codes and every ``data.kind`` a client can meet.

A failed command is a JSON-RPC error with a one-line message that says what to
do and ``data.kind``.  The kinds of the session core are the ``kind`` of each
:class:`~ctask_ls.core.errors.CtaskError` subclass (read from the classes, so
a new one cannot be forgotten here); the server adds its own
(``InternalError``, ``RequestCancelled``) and the JSON-RPC layer those of
:data:`RPC_ERRORS`.  ``GitError`` carries ``data.reason``
(:data:`GIT_REASONS`).
"""

from __future__ import annotations

import dataclasses

from ctask_ls.core import errors as core_errors

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

CODE_NAMES: dict[int, str] = {
    INVALID_PARAMS: "InvalidParams",
    REQUEST_FAILED: "RequestFailed",
    INTERNAL_ERROR: "InternalError",
    PARSE_ERROR: "ParseError",
    INVALID_REQUEST: "InvalidRequest",
    METHOD_NOT_FOUND: "MethodNotFound",
    SERVER_NOT_INITIALIZED: "ServerNotInitialized",
    REQUEST_CANCELLED: "RequestCancelled",
}
"""The names JSON-RPC and LSP give the codes."""


@dataclasses.dataclass(frozen=True)
class ErrorKind:
    """One ``data.kind``."""

    kind: str
    code: int
    """The JSON-RPC error code it comes with."""
    when: str
    """When a client gets it (Markdown, for docs/server.md)."""


_BAD_ARGUMENTS = frozenset({"InvalidName", "InvalidArgument"})

_WHEN: dict[str, str] = {
    "InvalidName": "the task name is not a string of 1-64 `[A-Za-z0-9._-]` starting with a letter or digit",
    "InvalidArgument": "not one object argument, a missing `name`, a key of the wrong type, an unknown key",
    "TaskNotFound": "no such task (or no tasks at all, for `ctask.last`)",
    "TaskExists": "`ctask.new` of an existing name, or one whose tmux name collides",
    "TaskBusy": (
        "leased by a live owner (`data.host`, `data.pid`) or running, for `remove`; a `fresh_remote` task for `stop`"
    ),
    "AgentNotFound": "the agent command is not on the server's `PATH` (`data.command`)",
    "TmuxNotFound": "no `tmux` on the server's `PATH`",
    "TmuxError": "tmux refused a command (its own words are in the message)",
    "LaunchFailed": "the agent died right after it started (`data.exit_status`, `data.last_lines`)",
    "NoSession": "`attach`/`stop` with no running session, `diff` of a task that never ran",
    "CorruptMetadata": (
        "`status` of a task whose task.yaml, lease or summary is unreadable (`data.path`, `data.error`)"
    ),
    "LockTimeout": "a workspace's write lock held too long by another ctask",
    "AdoptionDeclined": "the user chose Cancel for a `fresh_remote` session",
    "ConfigError": "a broken config file",
    "GitNotFound": "`ctask.new` with `repo`, and no `git` on the server's `PATH`",
    "GitError": "git refused; `data.reason` says why (below)",
    "InternalError": "a bug; the traceback is on the server's stderr",
    "RequestCancelled": "cancelled (or the server shut down) before the command started: nothing was done",
}


def _core_kinds() -> list[str]:
    """``kind`` of every CtaskError subclass, in the order errors.py defines them."""
    seen: list[str] = []
    todo = list(core_errors.CtaskError.__subclasses__())
    while todo:
        cls = todo.pop(0)
        if cls.kind not in seen:
            seen.append(cls.kind)
        todo.extend(cls.__subclasses__())
    return seen


CORE_KINDS: tuple[str, ...] = tuple(_core_kinds())
"""``data.kind`` of the session core's errors (one per CtaskError subclass)."""


def code_for(kind: str) -> int:
    """The JSON-RPC code a command error of ``kind`` is answered with."""
    if kind in _BAD_ARGUMENTS:
        return INVALID_PARAMS
    if kind == "InternalError":
        return INTERNAL_ERROR
    if kind == "RequestCancelled":
        return REQUEST_CANCELLED
    return REQUEST_FAILED


COMMAND_ERRORS: tuple[ErrorKind, ...] = tuple(
    ErrorKind(kind, code_for(kind), _WHEN.get(kind, "")) for kind in (*CORE_KINDS, "InternalError", "RequestCancelled")
)
"""Every ``data.kind`` a ``ctask.*`` command can fail with."""

RPC_ERRORS: tuple[ErrorKind, ...] = (
    ErrorKind("ParseError", PARSE_ERROR, "a body that is not UTF-8 or not JSON"),
    ErrorKind("InvalidRequest", INVALID_REQUEST, "JSON that is not a JSON-RPC 2.0 message, or nested too deep"),
    ErrorKind("InvalidHeader", INVALID_REQUEST, "a header that cannot be read (then the connection is closed)"),
    ErrorKind(
        "MessageTooLarge", INVALID_REQUEST, "a `Content-Length` over the limit (`data.content_length`, `data.limit`)"
    ),
    ErrorKind("AlreadyInitialized", INVALID_REQUEST, "a second `initialize`"),
    ErrorKind("ServerShutDown", INVALID_REQUEST, "any request after `shutdown`"),
    ErrorKind("ServerNotInitialized", SERVER_NOT_INITIALIZED, "a request before `initialize` (not executed)"),
    ErrorKind("MethodNotFound", METHOD_NOT_FOUND, "a method the server does not serve"),
    ErrorKind("InvalidParams", INVALID_PARAMS, "params that do not fit the LSP method"),
    ErrorKind(
        "UnknownCommand", INVALID_PARAMS, "`workspace/executeCommand` of a command it does not have (`data.command`)"
    ),
    ErrorKind("RequestCancelled", REQUEST_CANCELLED, "`$/cancelRequest` of a request that had not started"),
    ErrorKind("InternalError", INTERNAL_ERROR, "a bug in the server"),
    ErrorKind(
        "Unauthorized",
        INVALID_REQUEST,
        "`--tcp`/`--socket`: a first message that is not `initialize` with the right `initializationOptions.token` "
        "(then the connection is closed, nothing executed)",
    ),
    ErrorKind(
        "AnotherClientConnected", INVALID_REQUEST, "a second client while one is connected (then it is disconnected)"
    ),
    ErrorKind("TooManyConnections", INVALID_REQUEST, "more connections waiting to authenticate than the server takes"),
)
"""``data.kind`` of the errors the JSON-RPC layer answers by itself (:mod:`ctask_ls.server.rpc`)."""

ERROR_CODES: dict[str, int] = {e.kind: e.code for e in RPC_ERRORS}
"""``data.kind`` -> code of the errors the JSON-RPC layer answers by itself."""

ERROR_KINDS: tuple[str, ...] = tuple(dict.fromkeys([e.kind for e in COMMAND_ERRORS] + [e.kind for e in RPC_ERRORS]))
"""Every ``data.kind`` a client can meet, commands' first."""

GIT_REASONS: dict[str, str] = dict(core_errors.GitError.REASONS)
"""``data.reason`` of a ``GitError`` -> when it is given."""

FORCIBLE_GIT_REASONS: tuple[str, ...] = ("dirty", "unmerged", "repo_missing")
"""The ``GitError`` reasons of ``ctask.remove`` that ``force: true`` overrides."""
