"""One error root for the session core.

Every user-facing failure is a :class:`CtaskError` whose message is one line
that says what to do.  ``kind`` is the stable name the server puts into
``data.kind`` of a JSON-RPC error; the CLI prints ``ctask: error: <message>``
and exits 1.
"""

from __future__ import annotations

import typing as t


class CtaskError(Exception):
    """Base of every error the core reports to a user."""

    kind: t.ClassVar[str] = "CtaskError"

    def __init__(self, message: str, **data: t.Any) -> None:
        super().__init__(message)
        self.message = " ".join(message.split("\n")) if "\n" in message else message
        self.data: dict[str, t.Any] = data

    def __str__(self) -> str:
        return self.message

    def to_data(self) -> dict[str, t.Any]:
        """The payload for ``data`` of a JSON-RPC error."""
        return {"kind": self.kind, **self.data}


class InvalidName(CtaskError, ValueError):
    kind = "InvalidName"


class InvalidArgument(CtaskError, ValueError):
    """An argument of a command has the wrong type or value."""

    kind = "InvalidArgument"


class TaskNotFound(CtaskError, LookupError):
    kind = "TaskNotFound"


class TaskExists(CtaskError):
    kind = "TaskExists"


class TaskBusy(CtaskError):
    kind = "TaskBusy"


class AgentNotFound(CtaskError):
    kind = "AgentNotFound"


class TmuxNotFound(CtaskError):
    kind = "TmuxNotFound"


class TmuxError(CtaskError):
    """tmux refused a command; the message carries tmux's own words."""

    kind = "TmuxError"


class LaunchFailed(CtaskError):
    """The agent died within the first moments of its session."""

    kind = "LaunchFailed"


class NoSession(CtaskError):
    kind = "NoSession"


class CorruptMetadata(CtaskError):
    kind = "CorruptMetadata"

    def __init__(self, path: str, error: str, *, hint: str = "") -> None:
        first = " ".join(str(error).split())
        msg = f"{path} is corrupt ({first})"
        if hint:
            msg += f"; {hint}"
        super().__init__(msg, path=path, error=first)
        self.path = path
        self.error = first


class LockTimeout(CtaskError, TimeoutError):
    kind = "LockTimeout"


class AdoptionDeclined(CtaskError):
    kind = "AdoptionDeclined"


class ConfigError(CtaskError):
    kind = "ConfigError"


class GitNotFound(CtaskError):
    kind = "GitNotFound"


class GitError(CtaskError):
    """git refused, or the repository is not in a state the command accepts.

    ``data.reason`` is one of :attr:`REASONS` (the wire protocol and the
    editors' copies are generated from it).
    """

    kind = "GitError"

    REASONS: t.ClassVar[dict[str, str]] = {
        "not_a_repository": "`repo` is not inside a git repository (`new`)",
        "branch_exists": "the branch to create exists already (`new`)",
        "bad_branch": "not a valid branch name (`new`)",
        "bad_ref": "`base` names no commit, or the repository has none yet (`new`)",
        "worktree_taken": "the worktree's directory is in use (`new`)",
        "worktree_missing": "a resume whose worktree is gone",
        "dirty": "the worktree has uncommitted changes (`remove`; `force` overrides)",
        "unmerged": "the branch has commits no other branch has (`remove`; `force` overrides)",
        "repo_missing": "the repository is gone (`remove`; `force` overrides)",
        "failed": "git itself failed (its message says why)",
    }
    """``data.reason`` -> when it is given."""
