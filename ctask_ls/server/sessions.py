"""The ``ctask.*`` commands, through ``workspace/executeCommand``.

Every command takes one object argument (``arguments: [{...}]``; no argument
at all is the same as ``{}``), checked here before the core is called:
missing or mistyped keys are ``InvalidArgument``, a bad task name is
``InvalidName``, an unknown key is refused (it is most likely a typo).  The
work runs on the requests executor; results are the JSON the CLI's
``--json`` prints for the same command.

Launching commands (``ctask.new``, ``ctask.resume``, ``ctask.last``,
``ctask.attach``) return ``{task, action, session, terminal}``: ``action`` is
``launched``, ``adopted``, ``passive`` (another live process owns the session;
the editor may still attach) or ``owned`` (this server already owns it);
``terminal`` is ``{name, command, args, cwd, env}`` for the editor's own
terminal (``tmux -S SOCKET attach-session -t =SESSION``).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import typing as t
from pathlib import Path

from pygls.exceptions import JsonRpcException

from ctask_ls.core.api import (
    AdoptionDeclined,
    CtaskError,
    InvalidArgument,
    NewTask,
    NoSession,
    OutcomeKind,
    StopResult,
    validate_name,
)

from . import protocol
from .server import CtaskServer, rpc_error  # at run time: pygls resolves command handlers' annotations

if t.TYPE_CHECKING:
    from ctask_ls.core.api import Core, OwnedSession, PaneState, Workspace

    from .leases import LeaseWatcher
    from .owned import Owner

logger = logging.getLogger("ctask_ls.server.sessions")

Args = dict[str, t.Any]
Job = t.Callable[["Ctx", Args], t.Any]


@dataclasses.dataclass(frozen=True)
class Ctx:
    """What a command job needs: the server (client, core, executors) and the two features it drives."""

    server: CtaskServer
    owner: Owner
    """The sessions this server owns (:mod:`.owned`)."""
    leases: LeaseWatcher
    """The ``ctask/leaseState`` watcher (:mod:`.leases`): a launch holds its changes back."""

    @property
    def core(self) -> Core:
        return self.server.core


STOP_WAIT = 30.0
"""Seconds ``ctask.stop`` waits for this server's own finalize of the stopped session."""
MAX_TEXT = 10_000


# -- arguments ---------------------------------------------------------------------------------


def parse_arguments(command: str, args: t.Sequence[t.Any]) -> Args:
    """Check the one object argument of ``command`` against :data:`protocol.ARGUMENTS`."""
    spec = protocol.ARGUMENTS[command]
    example = '{"name": "fix-login"}' if any(a.name == "name" for a in spec) else "{}"
    if len(args) == 0 or (len(args) == 1 and args[0] is None):
        given: dict[str, t.Any] = {}
    elif len(args) == 1 and isinstance(args[0], dict):
        given = args[0]
    else:
        raise InvalidArgument(f"{command} takes one object argument, like {example}")
    known = {a.name for a in spec}
    for key in given:
        if key not in known:
            takes = ", ".join(a.name for a in spec) or "no keys"
            raise InvalidArgument(f"{command} does not take '{key}'; it takes {takes}")
    out: Args = {}
    for arg in spec:
        if arg.name not in given or given[arg.name] is None:
            if arg.required:
                raise InvalidArgument(f"{command} needs '{arg.name}': pass an object like {example}")
            continue
        out[arg.name] = _check(command, arg, given[arg.name])
    return out


def _check(command: str, arg: protocol.Arg, value: object) -> t.Any:
    where = f"{command}: '{arg.name}'"
    if arg.kind == "name":
        return validate_name(value)
    if arg.kind == "str":
        if not isinstance(value, str) or not value or "\0" in value:
            raise InvalidArgument(f"{where} must be a non-empty string, not {_shown(value)}")
        if len(value) > MAX_TEXT:
            raise InvalidArgument(f"{where} must be at most {MAX_TEXT} characters")
        return value
    if arg.kind == "bool":
        if not isinstance(value, bool):
            raise InvalidArgument(f"{where} must be true or false, not {_shown(value)}")
        return value
    if arg.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidArgument(f"{where} must be a non-negative integer, not {_shown(value)}")
        return value
    if arg.kind == "strlist":
        if not isinstance(value, list) or not all(isinstance(v, str) and "\0" not in v for v in value):
            raise InvalidArgument(f"{where} must be a list of strings, not {_shown(value)}")
        return list(value)
    raise AssertionError(arg.kind)


def _shown(value: object) -> str:
    """A bad value as the message shows it: short scalars literally, containers by kind."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, default=repr)
    return text if len(text) <= 40 else text[:37] + "..."


# -- results -------------------------------------------------------------------------------------


def launch_result(c: Ctx, ws: Workspace, owned: OwnedSession | None, action: str) -> dict[str, t.Any]:
    """``{task, action, session, terminal}``, the shape of the CLI's ``--json`` for launches."""
    return c.core.launch_result(ws, owned, action)


# -- jobs (run on the requests executor) ---------------------------------------------------------


def _new(c: Ctx, a: Args) -> dict[str, t.Any]:
    ws, owned = c.core.new(NewTask(**a), around_launch=c.leases.hold)  # ctask.new's arguments are its fields
    c.owner.add(owned)
    return launch_result(c, ws, owned, "launched")


def _resume_name(
    c: Ctx, name: str, agent: str | None, *, launch_new: bool = True, fresh: bool = False
) -> dict[str, t.Any]:
    """``ctask.resume``/``last`` (``launch_new``) and ``ctask.attach``: the core's one resume decision.

    A session this server already owns answers ``owned``; otherwise the core
    decides passive / adopted / launched / no session (SPEC 3.6), asking the
    editor before adopting a ``fresh_remote`` session.
    """
    core = c.core
    ws, _meta = core.load(name)
    mine = c.owner.get(ws)
    if mine is not None and not mine.ending:
        return launch_result(c, ws, mine.owned, "owned")
    with c.leases.hold(ws):
        try:
            out = core.resume(
                ws.name,
                confirm=c.server.confirm_adoption,
                launch_new=launch_new,
                agent=agent,
                fresh=fresh,
                ask_fresh=c.server.ask_fresh,
            )
        except AdoptionDeclined as exc:
            raise c.server.declined(ws, exc) from None
        if out.owned is not None:
            c.owner.add(out.owned)
    if out.kind is OutcomeKind.NO_SESSION:
        raise NoSession(
            f"task {ws.name} has no running session; start one with ctask.resume (`ctask resume {ws.name}`)",
            name=ws.name,
        )
    if out.kind is OutcomeKind.PASSIVE and (mine := c.owner.get(ws)) is not None:
        return launch_result(c, ws, mine.owned, "owned")
    return launch_result(c, ws, out.owned, str(out.kind))


def _resume(c: Ctx, a: Args) -> dict[str, t.Any]:
    return _resume_name(c, a["name"], a.get("agent"), fresh=bool(a.get("fresh")))


def _last(c: Ctx, a: Args) -> dict[str, t.Any]:
    return _resume_name(c, c.core.last_task(), a.get("agent"), fresh=bool(a.get("fresh")))


def _attach(c: Ctx, a: Args) -> dict[str, t.Any]:
    return _resume_name(c, a["name"], None, launch_new=False)


def _open(c: Ctx, a: Args) -> dict[str, t.Any]:
    ws, _meta = c.core.load(a["name"])
    folder = c.core.terminal_spec(ws)["cwd"]  # a repo task's worktree (when it exists), else the workspace
    return {"task": ws.name, "workspace": ws.tree_dir, "folder": folder, "uri": Path(folder).as_uri()}


def _list(c: Ctx, a: Args) -> list[dict[str, t.Any]]:
    return [st.to_json() for st in c.core.list_tasks()]


def _status(c: Ctx, a: Args) -> dict[str, t.Any]:
    st = c.core.status(a["name"], panes=c.server.recent_panes())
    if st.error is not None:
        raise st.error
    return st.to_json()


def _status_from(c: Ctx, a: Args, panes: dict[str, PaneState]) -> dict[str, t.Any]:
    st = c.core.status(a["name"], panes=panes, reconcile=False)
    if st.error is not None:
        raise st.error
    return st.to_json()


def _stop(c: Ctx, a: Args) -> dict[str, t.Any]:
    ws, _meta = c.core.load(a["name"])
    mine = c.owner.get(ws)
    result = c.core.stop(ws.name)
    if result.finalized or mine is None:
        return result.to_json()
    c.server.poke()
    try:
        summary = mine.finished.result(timeout=STOP_WAIT)
    except concurrent.futures.TimeoutError:
        return result.to_json()
    return StopResult(stopped=True, finalized=summary is not None, summary=summary).to_json()


def _diff(c: Ctx, a: Args) -> dict[str, t.Any]:
    return c.core.diff(a["name"])


def _log(c: Ctx, a: Args) -> list[dict[str, t.Any]]:
    sessions, problems = c.core.log(a["name"], a.get("limit"))
    for problem in problems:
        c.server.say(f"warning: {problem}")
    return sessions


def _remove(c: Ctx, a: Args) -> dict[str, t.Any]:
    core = c.core
    ws = core.workspace(a["name"])
    force = bool(a.get("force", False))
    if a.get("dry_run"):
        return core.remove(ws.name, force=force, dry_run=True)
    with c.leases.hold(ws):
        mine = c.owner.get(ws)
        if mine is not None and force:
            c.owner.forget(ws)
            mine.owned.release("task removed")
        result = core.remove(ws.name, force=force, delete_branch=bool(a.get("delete_branch", False)))
    for warning in result["warnings"]:
        c.server.say(f"warning: {warning}")
    return result


def _checkpoint(c: Ctx, a: Args) -> dict[str, t.Any]:
    return c.core.checkpoint(a["name"], a.get("message")).to_json()


def _checkpoints(c: Ctx, a: Args) -> list[dict[str, t.Any]]:
    return [cp.to_json() for cp in c.core.checkpoints(a["name"])]


def _file_at(c: Ctx, a: Args) -> dict[str, t.Any]:
    if a.get("current"):
        if a.get("checkpoint") is not None:
            raise InvalidArgument("ctask.fileAt takes `checkpoint` or `current`, not both")
        content = c.core.file_now(a["name"], a["path"])
        return {"name": a["name"], "path": a["path"], "checkpoint": None, "content": content}
    text, cp = c.core.file_at(a["name"], a["path"], a.get("checkpoint"))
    return {"name": a["name"], "path": a["path"], "checkpoint": cp.to_json(), "content": text}


def _revert(c: Ctx, a: Args) -> dict[str, t.Any]:
    return c.core.revert(a["name"], to=a.get("to"), paths=a.get("paths") or (), force=bool(a.get("force")))


JOBS: dict[str, Job] = {
    protocol.NEW: _new,
    protocol.RESUME: _resume,
    protocol.LAST: _last,
    protocol.OPEN: _open,
    protocol.ATTACH: _attach,
    protocol.LIST: _list,
    protocol.STATUS: _status,
    protocol.STOP: _stop,
    protocol.DIFF: _diff,
    protocol.LOG: _log,
    protocol.REMOVE: _remove,
    protocol.CHECKPOINT: _checkpoint,
    protocol.CHECKPOINTS: _checkpoints,
    protocol.FILE_AT: _file_at,
    protocol.REVERT: _revert,
}


READ_ONLY = frozenset(
    {protocol.LIST, protocol.STATUS, protocol.DIFF, protocol.LOG, protocol.CHECKPOINTS, protocol.FILE_AT}
)
"""Commands that change nothing, so they do not wake the poller."""


def register(server: CtaskServer, command: str, job: Job, ctx: Ctx) -> None:
    """Register ``command``: check its argument, run ``job`` off the loop, map errors."""

    async def handler(ls: CtaskServer, *args: t.Any) -> t.Any:
        try:
            params = parse_arguments(command, args)
            if command == protocol.STATUS and (panes := ls.recent_panes()) is not None:
                # With a fresh tmux snapshot, status is a few cached file reads
                # (~0.1 ms): answer on the loop; the poller reconciles.
                return _status_from(ctx, params, panes)
            return await ls.in_request(job, ctx, params)
        except Exception as exc:
            if not isinstance(exc, CtaskError | JsonRpcException):
                logger.exception("%s failed", command)
            raise rpc_error(exc) from None
        finally:
            if command not in READ_ONLY:  # a change: let the poller look at once
                ls.poke()

    handler.__name__ = handler.__qualname__ = "command_" + command.replace(".", "_")
    server.command(command)(handler)


def setup(server: CtaskServer, owner: Owner, leases: LeaseWatcher) -> None:
    """Register every ``ctask.*`` command; each job gets the features it drives."""
    ctx = Ctx(server, owner, leases)
    assert set(JOBS) == set(protocol.COMMANDS)
    for command in protocol.COMMANDS:
        register(server, command, JOBS[command], ctx)
