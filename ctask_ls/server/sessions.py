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
    from ctask_ls.core.api import OwnedSession, PaneState, Workspace

logger = logging.getLogger("ctask_ls.server.sessions")

Args = dict[str, t.Any]
Job = t.Callable[[CtaskServer, Args], t.Any]

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


def launch_result(server: CtaskServer, ws: Workspace, owned: OwnedSession | None, action: str) -> dict[str, t.Any]:
    """``{task, action, session, terminal}``, the shape of the CLI's ``--json`` for launches."""
    return server.core.launch_result(ws, owned, action)


# -- jobs (run on the requests executor) ---------------------------------------------------------


def _new(ls: CtaskServer, a: Args) -> dict[str, t.Any]:
    ws, owned = ls.core.new(NewTask(**a), around_launch=ls.leases.hold)  # ctask.new's arguments are its fields
    ls.owner.add(owned)
    return launch_result(ls, ws, owned, "launched")


def _resume_name(ls: CtaskServer, name: str, agent: str | None) -> dict[str, t.Any]:
    core = ls.core
    ws, meta = core.load(name)
    mine = ls.owner.get(ws)
    if mine is not None and not mine.ending:
        return launch_result(ls, ws, mine.owned, "owned")
    with ls.leases.hold(ws):
        d = _dispatch(ls, ws)
        if d is not None:
            return d
        owned = core.launch(ws, core.resolve_agent(meta, agent))
        ls.owner.add(owned)
        return launch_result(ls, ws, owned, "launched")


def _dispatch(ls: CtaskServer, ws: Workspace) -> dict[str, t.Any] | None:
    """Passive reattach or adoption (asking first for fresh_remote); None: no session runs."""
    try:
        d = ls.core.dispatch(ws, confirm=ls.confirm_adoption)
    except AdoptionDeclined as exc:
        raise ls.declined(ws, exc) from None
    if d.kind is OutcomeKind.ADOPTED and d.owned is not None:
        ls.owner.add(d.owned)
        return launch_result(ls, ws, d.owned, "adopted")
    if d.kind is OutcomeKind.PASSIVE:
        mine = ls.owner.get(ws)
        if mine is not None:
            return launch_result(ls, ws, mine.owned, "owned")
        return launch_result(ls, ws, None, "passive")
    return None


def _resume(ls: CtaskServer, a: Args) -> dict[str, t.Any]:
    return _resume_name(ls, a["name"], a.get("agent"))


def _last(ls: CtaskServer, a: Args) -> dict[str, t.Any]:
    return _resume_name(ls, ls.core.last_task(), a.get("agent"))


def _attach(ls: CtaskServer, a: Args) -> dict[str, t.Any]:
    ws, _meta = ls.core.load(a["name"])
    mine = ls.owner.get(ws)
    if mine is not None and not mine.ending:
        return launch_result(ls, ws, mine.owned, "owned")
    with ls.leases.hold(ws):
        d = _dispatch(ls, ws)
    if d is None:
        raise NoSession(
            f"task {ws.name} has no running session; start one with ctask.resume (`ctask resume {ws.name}`)",
            name=ws.name,
        )
    return d


def _open(ls: CtaskServer, a: Args) -> dict[str, t.Any]:
    ws, _meta = ls.core.load(a["name"])
    folder = ls.core.terminal_spec(ws)["cwd"]  # a repo task's worktree (when it exists), else the workspace
    return {"task": ws.name, "workspace": str(ws.root), "folder": folder, "uri": Path(folder).as_uri()}


def _list(ls: CtaskServer, a: Args) -> list[dict[str, t.Any]]:
    return [st.to_json() for st in ls.core.list_tasks()]


def _status(ls: CtaskServer, a: Args) -> dict[str, t.Any]:
    st = ls.core.status(a["name"], panes=ls.recent_panes())
    if st.error is not None:
        raise st.error
    return st.to_json()


def _status_from(ls: CtaskServer, a: Args, panes: dict[str, PaneState]) -> dict[str, t.Any]:
    st = ls.core.status(a["name"], panes=panes, reconcile=False)
    if st.error is not None:
        raise st.error
    return st.to_json()


def _stop(ls: CtaskServer, a: Args) -> dict[str, t.Any]:
    ws, _meta = ls.core.load(a["name"])
    mine = ls.owner.get(ws)
    result = ls.core.stop(ws.name)
    if result.finalized or mine is None:
        return result.to_json()
    ls.poke()
    try:
        summary = mine.finished.result(timeout=STOP_WAIT)
    except concurrent.futures.TimeoutError:
        return result.to_json()
    return StopResult(stopped=True, finalized=summary is not None, summary=summary).to_json()


def _diff(ls: CtaskServer, a: Args) -> dict[str, t.Any]:
    return ls.core.diff(a["name"])


def _log(ls: CtaskServer, a: Args) -> list[dict[str, t.Any]]:
    sessions, problems = ls.core.log(a["name"], a.get("limit"))
    for problem in problems:
        ls.say(f"warning: {problem}")
    return sessions


def _remove(ls: CtaskServer, a: Args) -> dict[str, t.Any]:
    core = ls.core
    ws = core.workspace(a["name"])
    force = bool(a.get("force", False))
    with ls.leases.hold(ws):
        mine = ls.owner.get(ws)
        if mine is not None and force:
            ls.owner.forget(ws)
            mine.owned.release("task removed")
        result = core.remove(ws.name, force=force, delete_branch=bool(a.get("delete_branch", False)))
    for warning in result["warnings"]:
        ls.say(f"warning: {warning}")
    return result


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
}


READ_ONLY = frozenset({protocol.LIST, protocol.STATUS, protocol.DIFF, protocol.LOG})
"""Commands that change nothing, so they do not wake the poller."""


def register(server: CtaskServer, command: str, job: Job) -> None:
    """Register ``command``: check its argument, run ``job`` off the loop, map errors."""

    async def handler(ls: CtaskServer, *args: t.Any) -> t.Any:
        try:
            params = parse_arguments(command, args)
            if command == protocol.STATUS and (panes := ls.recent_panes()) is not None:
                # With a fresh tmux snapshot, status is a few cached file reads
                # (~0.1 ms): answer on the loop; the poller reconciles.
                return _status_from(ls, params, panes)
            return await ls.in_request(job, ls, params)
        except Exception as exc:
            if not isinstance(exc, CtaskError | JsonRpcException):
                logger.exception("%s failed", command)
            raise rpc_error(exc) from None
        finally:
            if command not in READ_ONLY:  # a change: let the poller look at once
                ls.poke()

    handler.__name__ = handler.__qualname__ = "command_" + command.replace(".", "_")
    server.command(command)(handler)


def setup(server: CtaskServer) -> None:
    assert set(JOBS) == set(protocol.COMMANDS)
    for command in protocol.COMMANDS:
        register(server, command, JOBS[command])
