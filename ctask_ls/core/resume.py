"""The persistent dispatcher (SPEC 3.6): passive reattach, adoption or a new launch, decided once for both front doors.

If the task's tmux session runs: a ``fresh_local`` lease means *passive*
(attach only, the owner will record it); ``missing`` or ``stale`` means
*adopt*; ``fresh_remote`` means adopt after the caller's ``confirm`` said
yes (else :class:`AdoptionDeclined`).  If none runs: an ended, unrecorded
session is recorded first (reconcile); then ``resume`` launches a new
session, ``attach`` (``launch=False``) reports that there is none.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import shlex
import typing as t

from ctask_ls.core import activity as activities
from ctask_ls.core import lease as leases
from ctask_ls.core import records, timeutil
from ctask_ls.core.adopt import adopt
from ctask_ls.core.agent import AgentSpec, resolve
from ctask_ls.core.errors import AdoptionDeclined, LaunchFailed
from ctask_ls.core.finalize import EndReason
from ctask_ls.core.launch import launch
from ctask_ls.core.reconcile import reconcile

if t.TYPE_CHECKING:
    from ctask_ls.core.agent import ResolvedAgent
    from ctask_ls.core.context import Confirm, Context
    from ctask_ls.core.lease import LeaseInfo
    from ctask_ls.core.owned import OwnedSession
    from ctask_ls.core.workspace import TaskMeta, Workspace


AskFresh = t.Callable[["Workspace", str], bool]
"""Asked (with why) whether to start a new conversation when resuming the old one failed."""


class OutcomeKind(enum.StrEnum):
    PASSIVE = "passive"
    """Another live process owns the session: attach only."""
    ADOPTED = "adopted"
    """This process owns the orphaned session now."""
    LAUNCHED = "launched"
    """No session ran: this process launched and owns a new one."""
    NO_SESSION = "no_session"
    """No session runs (``attach``; an ended one was recorded first)."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the dispatcher decided and did for one task."""

    kind: OutcomeKind
    ws: Workspace
    info: LeaseInfo | None = None
    """The lease after the decision (passive: whose it is)."""
    owned: OwnedSession | None = None
    """Adopted or launched: the session this process owns now."""


def dispatch(ctx: Context, ws: Workspace, *, confirm: Confirm) -> Outcome:
    """Decide between passive reattach, adoption and "no session" for ``ws`` (never launches)."""
    pane = ctx.pane(ws)
    if pane is None or pane.dead:
        if ws.manifest_start.exists():
            reconcile(ctx, ws)
        elif pane is not None:
            ctx.tmux.kill_session(ws.tmux_session)
        return Outcome(OutcomeKind.NO_SESSION, ws)
    info = ctx.inspect(ws)
    if info.state == leases.FRESH_LOCAL:
        return Outcome(OutcomeKind.PASSIVE, ws, info)
    if info.error is not None:
        raise info.error
    if info.state == leases.FRESH_REMOTE and not confirm(ws, info):
        raise declined(ws, info)
    owned = adopt(ctx, ws, pane, allow_remote=info.state == leases.FRESH_REMOTE)
    if owned is None:
        return Outcome(OutcomeKind.PASSIVE, ws, ctx.inspect(ws))
    return Outcome(OutcomeKind.ADOPTED, ws, ctx.inspect(ws), owned)


def resume(
    ctx: Context,
    name: object,
    *,
    confirm: Confirm,
    launch_new: bool = True,
    agent: str | None = None,
    shell: bool = False,
    fresh: bool = False,
    ask_fresh: AskFresh | None = None,
) -> Outcome:
    """``resume``/``last``/``open`` (``launch_new``) and ``attach`` (not): the whole decision of SPEC 3.6.

    ``agent`` replaces the task's agent command for a new launch; ``shell``
    launches the user's shell instead (``open``).  An adopted or launched
    session is the caller's to own (``Outcome.owned``).  A session the tmux
    server's end cut short carries its conversation on (:func:`conversation_args`)
    unless ``fresh``; when the agent fails at once with the resume
    arguments, a fresh start needs ``ask_fresh`` to say yes.
    """
    ws, meta = ctx.load(name)
    outcome = dispatch(ctx, ws, confirm=confirm)
    if outcome.kind is not OutcomeKind.NO_SESSION or not launch_new:
        return outcome
    resolved = resolve_agent(meta, agent, shell=shell)
    carry_on, conversation = ([], None) if shell else conversation_args(ctx, ws, meta, resolved, fresh=fresh)
    try:
        owned = launch(ctx, ws, resolved, meta, resume_args=carry_on, conversation=conversation)
    except LaunchFailed as exc:
        if not carry_on:
            raise
        why = f"the agent did not resume its conversation ({exc})"
        if ask_fresh is None or not ask_fresh(ws, why):
            raise LaunchFailed(
                f"task {ws.name}: {why}; start a new conversation with `ctask resume {ws.name} --fresh`",
                name=ws.name,
            ) from exc
        ctx.say(f"task {ws.name}: {why}; starting a new conversation")
        owned = launch(ctx, ws, resolved, meta)
    return Outcome(OutcomeKind.LAUNCHED, ws, None, owned)


def conversation_args(
    ctx: Context, ws: Workspace, meta: TaskMeta, agent: ResolvedAgent, *, fresh: bool
) -> tuple[list[str], str | None]:
    """The arguments that carry the agent's conversation on (SPEC 3.12) and its id, or none; says which in one
    line.

    Only after a session that the tmux server's end cut short (``end_reason:
    tmux_server_gone``: a reboot, a crash, ``kill-server``): one the agent
    ended itself, or the user stopped, starts afresh as before.  The
    conversation is the one the last session's hooks reported (or the one it
    resumed itself, recorded at its launch), resumed with its profile's
    ``resume`` arguments.
    """
    last = records.read_summary(ws)
    if last is None or last.get("end_reason") != EndReason.TMUX_SERVER_GONE:
        return [], None
    if fresh:
        ctx.say(f"task {ws.name}: starting a new conversation (--fresh)")
        return [], None
    profile = ctx.profile_of(meta, agent)
    record = activities.read_record(ws)
    conversation = record.conversation_id if record is not None and _since(record.at, last) else None
    args = profile.resume_args(conversation)
    if args is None:
        what = "no conversation id was recorded" if conversation is None else f"profile {profile.name} cannot resume"
        ctx.say(f"task {ws.name}: its session ended with the tmux server, but {what}; starting afresh")
        return [], None
    ctx.say(f"task {ws.name}: resuming conversation {conversation} ({shlex.join(args)})")
    return args, conversation


def _since(at: float, last: dict[str, t.Any]) -> bool:
    """Whether a hooks' record made at ``at`` is of the last session or later (a launch that failed and left
    no session), not of an earlier one: a conversation the last session never reported is not its."""
    try:
        started = timeutil.parse(last.get("started_at")).timestamp()
    except ValueError:
        return False
    return at >= started - 1  # started_at is whole seconds


def resolve_agent(meta: TaskMeta, override: str | None = None, *, shell: bool = False) -> ResolvedAgent:
    """The agent to launch (SPEC 3.3): the task's, its command replaced by ``override``; or the user's shell."""
    if shell:
        return resolve(AgentSpec(os.environ.get("SHELL") or "/bin/sh"), label="shell")
    return resolve(meta.agent.with_command(override))


def declined(ws: Workspace, info: LeaseInfo) -> AdoptionDeclined:
    lease = info.lease
    who = f"{lease.host} pid {lease.pid}" if lease else "another host"
    return AdoptionDeclined(
        f"task {ws.name} is held by {who} with a fresh heartbeat; "
        "adoption declined (rerun with --yes to adopt it here)",
        name=ws.name,
    )
