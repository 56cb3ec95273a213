"""The ``ctask.*`` commands: names, the keys of their one object argument, what they return.

Commands go through ``workspace/executeCommand`` with exactly one object
argument (``arguments: [{...}]``; none at all is the same as ``{}``).
:data:`COMMANDS` lists them in the README's order; each :class:`Command` says
which keys its argument takes (:class:`Arg`) and what it returns.
"""

from __future__ import annotations

import dataclasses

from ctask_ls.core import workspace as core_workspace

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
CHECKPOINT = "ctask.checkpoint"
CHECKPOINTS = "ctask.checkpoints"
FILE_AT = "ctask.fileAt"
REVERT = "ctask.revert"


@dataclasses.dataclass(frozen=True)
class Arg:
    """One key of a command's object argument."""

    name: str
    kind: str
    """``name`` (a task name), ``str`` (non-empty), ``bool``, ``int`` (non-negative) or ``strlist`` (a list of
    strings); :mod:`ctask_ls.server.sessions` checks each."""
    required: bool = False
    doc: str = ""
    """What the key means (the TypeScript interfaces carry it)."""


@dataclasses.dataclass(frozen=True)
class Command:
    """A ``workspace/executeCommand`` command of ctask-ls."""

    name: str
    args: tuple[Arg, ...]
    result: str
    """What it returns (Markdown, for docs/server.md)."""

    @property
    def launching(self) -> bool:
        """It returns a launch result ``{task, action, session, terminal}``."""
        return self.name in (NEW, RESUME, LAST, ATTACH)


_NAME = Arg("name", "name", required=True, doc="The task's name.")
_AGENT = Arg("agent", "str", doc="Run this command instead of the task's agent, for this launch only.")
_FRESH = Arg(
    "fresh",
    "bool",
    doc="Start a new conversation even when the last session was cut short by the tmux server's end (SPEC 3.12).",
)

COMMAND_SPECS: tuple[Command, ...] = (
    Command(
        NEW,
        (
            _NAME,
            Arg("agent", "str", doc="The agent's command (a name on PATH or a path); default: the settings' agent."),
            Arg("description", "str", doc="One line about the task."),
            Arg("args", "strlist", doc="The agent's arguments, stored with the task (never passed through a shell)."),
            Arg("repo", "str", doc="A directory inside a git repository: the task gets a worktree of it."),
            Arg("branch", "str", doc="The worktree's new branch (default `ctask/NAME`)."),
            Arg("base", "str", doc="The ref the branch starts from (default the repository's HEAD)."),
        ),
        "launch result",
    ),
    Command(RESUME, (_NAME, _AGENT, _FRESH), "launch result"),
    Command(LAST, (_AGENT, _FRESH), "launch result (the task updated most recently)"),
    Command(
        OPEN,
        (_NAME,),
        "`{task, workspace, folder, uri}`: the folder for the editor to open (a repo task's worktree)",
    ),
    Command(ATTACH, (_NAME,), "launch result; `NoSession` if nothing runs"),
    Command(LIST, (), "array of task objects (as `ctask list --json`)"),
    Command(STATUS, (_NAME,), "one task object (as `ctask status NAME --json`)"),
    Command(STOP, (_NAME,), "`{stopped, finalized, summary}`"),
    Command(
        DIFF,
        (_NAME,),
        "`{name, live, session_id, added, modified, deleted, counts, bytes, git?, checkpoint}` "
        "(`checkpoint`: the number `ctask.fileAt` reads the old side from, or null)",
    ),
    Command(
        LOG,
        (_NAME, Arg("limit", "int", doc="Only the last LIMIT sessions.")),
        "array of session records, oldest first",
    ),
    Command(
        REMOVE,
        (
            _NAME,
            Arg("force", "bool", doc="Also when it is leased or running (the session is killed)."),
            Arg("delete_branch", "bool", doc="Also delete a repo task's branch."),
            Arg(
                "dry_run",
                "bool",
                doc="Only check: the error a removal would give, else `{task, removable, workspace, branch?}` "
                "(ask the user only when the answer can be carried out).",
            ),
        ),
        "`{removed, workspace, warnings, branch?, branch_deleted?}`",
    ),
    Command(
        CHECKPOINT,
        (_NAME, Arg("message", "str", doc="What the checkpoint is for.")),
        "one checkpoint `{n, commit, at, source, message, session_id, counts, metadata_only}`",
    ),
    Command(CHECKPOINTS, (_NAME,), "array of checkpoints, oldest first (as `ctask checkpoints NAME --json`)"),
    Command(
        FILE_AT,
        (
            _NAME,
            Arg(
                "path", "str", required=True, doc="A file of the agent's tree, relative to it (or absolute inside it)."
            ),
            Arg("checkpoint", "str", doc="A checkpoint's number or commit; default: the session's start."),
            Arg(
                "current",
                "bool",
                doc="The file as it is now in the agent's tree instead of at a checkpoint (the right side of a "
                "diff for an editor on another machine, SPEC 10); not with `checkpoint`. The file and every "
                "directory on its way are opened without following a link: a symlink reads as its target's "
                "name, as a checkpoint keeps it.",
            ),
        ),
        "`{name, path, checkpoint, content}` (`checkpoint` null with `current`); `InvalidArgument` for a binary, "
        "oversized (`snapshot_max_file`), special or missing file, or a link on its way",
    ),
    Command(
        REVERT,
        (
            _NAME,
            Arg("to", "str", doc="A checkpoint's number or commit; default: the start of the running or last session."),
            Arg("paths", "strlist", doc="Only these files or directories of the tree."),
            Arg("force", "bool", doc="Also while the agent runs."),
        ),
        "`{task, to, before, restored, deleted}` (`before`: the checkpoint taken first, to undo it)",
    ),
)
"""Every command, in the order the README lists them."""

COMMANDS: tuple[str, ...] = tuple(c.name for c in COMMAND_SPECS)
"""Every command name, in the order the README lists them."""

ARGUMENTS: dict[str, tuple[Arg, ...]] = {c.name: c.args for c in COMMAND_SPECS}
"""Command -> the keys of its object argument."""

LAUNCHING: frozenset[str] = frozenset(c.name for c in COMMAND_SPECS if c.launching)
"""Commands that return ``{task, action, session, terminal}``."""

LAUNCH_ACTIONS: tuple[str, ...] = ("launched", "adopted", "passive", "owned")
"""``action`` of a launch result (:data:`LAUNCH_ACTIONS_DOC`)."""
LAUNCH_ACTIONS_DOC = (
    "`action` of a launch result: `launched`, `adopted`, `passive` (another live process owns the session; "
    "attaching is still fine) or `owned` (this server already owns it)."
)

ADOPT = "Adopt"
"""The answer to ``window/showMessageRequest`` that adopts a ``fresh_remote`` session."""
CANCEL = "Cancel"
FRESH = "Start a New Conversation"
"""The answer to "resuming the conversation failed: start a new one?" (SPEC 3.12)."""
"""The answer that declines (so does dismissing the question)."""

DEFAULT_BRANCH_PREFIX = "ctask/"
"""``ctask.new`` with ``repo`` and no ``branch`` makes the branch ``ctask/NAME``."""

PROTOCOL_VERSION = 1
"""What this protocol is, as ``initialize`` says it (``capabilities.experimental.ctask.protocol``): a client that
speaks another refuses the server in one line (another host's older ctask, SPEC 10).  Raise it when a change
breaks clients."""

TASK_NAME_PATTERN: str = core_workspace.NAME_RE.pattern
"""A task name, whole (SPEC 2): 1-64 of ``[A-Za-z0-9._-]``, starting with a letter or digit."""
