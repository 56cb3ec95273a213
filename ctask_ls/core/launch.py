"""Launch a task's agent as an owned session (SPEC 3.5): take the lease, capture the baseline, start, verify.

Persistent mode runs the agent as the pane's own process of a new tmux
session (``remain-on-exit``, so its exit status and last lines can be
read) and watches its first moments: an agent that fails at once is an
error with its exit status and last output, not a "started".  Direct mode
runs it as a child on the caller's terminal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import typing as t
from pathlib import Path

from ctask_ls.core import activity as activities
from ctask_ls.core import gitview, hook, markers, records, review, timeutil, wiring
from ctask_ls.core import lease as leases
from ctask_ls.core import manifest as manifests
from ctask_ls.core.agent import launch_environment
from ctask_ls.core.errors import CtaskError, GitError, LaunchFailed, TaskBusy, TaskNotFound, TmuxError
from ctask_ls.core.finalize import EndReason, EndState, SessionFacts
from ctask_ls.core.owned import OwnedSession
from ctask_ls.core.reconcile import reconcile
from ctask_ls.core.storage import require_lock, write_lock
from ctask_ls.core.tmux import PaneState

if t.TYPE_CHECKING:
    from ctask_ls.core.agent import ResolvedAgent
    from ctask_ls.core.context import Context
    from ctask_ls.core.lease import Lease
    from ctask_ls.core.workspace import TaskMeta, Workspace


def launch(
    ctx: Context,
    ws: Workspace,
    agent: ResolvedAgent,
    meta: TaskMeta | None = None,
    *,
    resume_args: t.Sequence[str] = (),
    conversation: str | None = None,
) -> OwnedSession:
    """Take the lease, capture the baseline, start the agent, verify it; ``meta``: task.yaml if already read.

    The agent runs as ``COMMAND PROFILE_ARGS RESUME_ARGS TASK_ARGS``: its profile's fixed arguments, then
    ``resume_args`` (a conversation to carry on, :func:`.resume.resume`), then the task's own, with the
    profile's hooks wired in (:mod:`.wiring`).  The resumed ``conversation`` is the new session's from its
    start (its hooks' record, ``idle``: waiting for the user), so a session that ends before its agent
    reported anything still passes it on.
    """
    ctx.tmux.binary()
    mode = ctx.mode
    if ws.manifest_start.exists():
        reconcile(ctx, ws)
    meta = meta or ws.read_meta()
    profile = ctx.profile_of(meta, agent)
    cwd = agent_cwd(ws, meta)
    started = timeutil.now()
    sid = leases.new_session_id(ctx.host, os.getpid(), started)
    lease = leases.Lease(
        session_id=sid,
        host=ctx.host,
        pid=os.getpid(),
        agent=agent.label,
        mode=mode,
        tmux_session=ws.tmux_session,
        started_at=started,
        heartbeat_at=started,
        owner=ctx.owner,
    )
    with require_lock(ws.lock_path, ctx.config.lock_timeout, what="take the lease"):
        claim = leases.try_acquire_or_renew(
            ws,
            lease,
            stale_after=ctx.config.stale_after,
            host=ctx.host,
            before_write=lambda _info: _no_session_left(ctx, ws),
        )
        if not claim.held:
            assert claim.found is not None and claim.found.lease is not None
            raise busy(ws, claim.found.lease)
        meta = ws.read_meta()
        if not meta.provisional:  # a new task's updated_at moves once its agent runs (clear_provisional)
            meta = dataclasses.replace(meta, updated_at=started)
            ws.write_meta(meta)
    records.event(ws, "lease_taken", session_id=sid, host=ctx.host, owner=ctx.owner, agent=agent.label)
    ctx.fault("launch.lease_written")
    try:
        baseline = ctx.write_baseline(ws, sid)
        review.take_quietly(ctx, ws, "start", manifest=baseline, session_id=sid)
        facts = SessionFacts(
            session_id=sid,
            baseline=baseline,
            baseline_kind="original",
            started_at=started,
            agent=agent.label,
            mode=mode,
            ownership="owned",
            repo=meta.repo,
            lease_sid=sid,
        )
        owned = OwnedSession(ctx, ws=ws, lease=lease, facts=facts)
        ctx.fault("launch.manifest_written")
        ctx.heartbeats.add(ws, lease, ctx.config.heartbeat_interval, owned.on_lost)
        env = launch_environment(os.environ, _ctask_vars(ctx, ws, sid, mode, cwd), agent.spec)
        argv = wiring.wire(
            [agent.path, *profile.args, *resume_args, *agent.spec.args], ws.agent_settings, profile.hooks
        )
        if conversation is not None:
            hook.record(ws.dir, sid, profile.hooks, activities.IDLE, None, conversation)
        if mode == "persistent":
            ctx.tmux.new_session(
                ws.tmux_session,
                argv,
                cwd=cwd,
                env=env,
                env_file=ws.launch_env,
                session_id=sid,
                exit_channel=ctx.exit_channel,
                reaper=ctx.arm_reaper(ws),
            )
            markers.mark_launched(ws, sid)
            ctx.fault("launch.tmux_started")
            failed = _verify(ctx, ws)
            if failed is not None:
                raise _launch_failed(ctx, owned, agent, failed)
        else:
            owned.start_direct(argv, env, cwd)
            markers.mark_launched(ws, sid)
    except BaseException as exc:
        _abandon(ctx, ws, sid, f"launch failed: {exc}")
        raise
    clear_provisional(ctx, ws, meta)  # "once running, provisional is cleared" (SPEC 3.5)
    ctx.fault("launch.verified")
    return owned


def _no_session_left(ctx: Context, ws: Workspace) -> None:
    """Under the lock, before the lease is written: no session of this task may still run or await its record."""
    pane = ctx.tmux.pane(ws.tmux_session)
    if pane is not None and not pane.dead:
        raise TaskBusy(
            f"task {ws.name} already has a running session; attach with `ctask attach {ws.name}`",
            name=ws.name,
        )
    if ws.manifest_start.exists():  # an ended session reconcile could not record yet
        raise TaskBusy(
            f"task {ws.name} has an unrecorded session that is still being finalized; try again",
            name=ws.name,
        )
    if pane is not None:  # a dead leftover already recorded
        ctx.tmux.kill_session(ws.tmux_session)


def clear_provisional(ctx: Context, ws: Workspace, meta: TaskMeta) -> None:
    """A task whose agent has run is no longer provisional (``meta``: task.yaml as last read)."""
    if meta.provisional:
        with contextlib.suppress(CtaskError):
            ws.touch(ctx.config.lock_timeout, provisional=False)


def _abandon(ctx: Context, ws: Workspace, sid: str, why: str) -> None:
    """Undo a launch that never got going: the agent's environment file, lease and baseline go."""
    ctx.heartbeats.remove(ws)
    with contextlib.suppress(OSError):  # before the lease goes: the file may be the next launch's after
        ws.launch_env.unlink()
    with contextlib.suppress(TaskNotFound), write_lock(ws.lock_path, ctx.config.lock_timeout) as held:
        if held and ctx.release_lease(ws, sid, reason=why, log=False):
            with contextlib.suppress(FileNotFoundError):
                ws.manifest_start.unlink()
            with contextlib.suppress(FileNotFoundError):
                ws.launched_marker.unlink()
    records.event(ws, "launch_failed", session_id=sid, reason=why)


def _ctask_vars(ctx: Context, ws: Workspace, sid: str, mode: str, cwd: str) -> dict[str, str]:
    found = {
        "CTASK_TASK": ws.name,
        "CTASK_WORKSPACE": ws.tree_dir,
        "CTASK_SESSION_ID": sid,
        "CTASK_MODE": mode,
        "CTASK_HOME": str(ctx.config.home),
    }
    if cwd != ws.tree_dir:
        found["CTASK_WORKTREE"] = cwd
    return found


def _verify(ctx: Context, ws: Workspace) -> PaneState | None:
    """Watch the agent's first moments: its dead pane if it failed at once, else None.

    Failing is exiting with a non-zero (or unknown) status or by a signal.
    An agent that exits 0 at once has done its job: its session ends as
    any other and the owner records it with its diff (SPEC 3.5 step 5).
    """
    tmux = ctx.tmux
    deadline = time.monotonic() + ctx.config.launch_grace
    while True:
        pane = tmux.pane(ws.tmux_session)
        if pane is None and (why := tmux.server_error()) is not None:
            raise TmuxError(
                f"the tmux server on {tmux.socket} stopped right after it started ({why}); "
                "check that the socket's directory exists and is writable",
                socket=tmux.socket,
            )
        if pane is not None and pane.dead:
            pane = tmux.settled_pane(ws.tmux_session, pane)
        if pane is None or pane.dead:
            if pane is not None and pane.dead_status == 0 and pane.dead_signal is None:
                return None
            return pane or PaneState(ws.tmux_session, True, None, None, None, None)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def _launch_failed(ctx: Context, owned: OwnedSession, agent: ResolvedAgent, pane: PaneState) -> LaunchFailed:
    """The error for an agent that failed at once; what it wrote is kept and recorded, never deleted.

    An agent that wrote nothing leaves no session: the launch is undone
    (and ``new`` removes its task).  One that wrote something gets its
    session recorded as any other (exit status, last lines, diff), and
    the task stays, no longer provisional: ctask never deletes a file the
    agent wrote, except through ``rm``.
    """
    ws = owned.ws
    lines = ctx.tmux.capture_tail(ws.tmux_session)
    if pane.dead_status is not None:
        how = f"exited with status {pane.dead_status}"
    elif pane.dead_signal is not None:
        how = f"was killed by signal {pane.dead_signal}"
    else:
        how = "exited (tmux did not report its exit status)"
    tail = " | ".join(lines[-3:]) if lines else "no output"
    message = f"agent '{agent.label}' {how} right after it started (last output: {tail}); "
    wrote = _agent_wrote(ctx, owned)
    if wrote:
        summary = owned.finalize(EndState(EndReason.AGENT_EXITED, pane, last_lines=lines))
        with contextlib.suppress(CtaskError):
            clear_provisional(ctx, ws, ws.read_meta())
        message += (
            f"it wrote {wrote}, kept in task {ws.name} and recorded as a session: see `ctask diff {ws.name}`; "
            "check the agent's command and arguments"
        )
        return LaunchFailed(
            message,
            exit_status=pane.dead_status,
            exit_signal=pane.dead_signal,
            last_lines=lines,
            kept=True,
            recorded=summary is not None,
        )
    ctx.tmux.kill_session(ws.tmux_session)
    return LaunchFailed(
        message + "check the agent's command and arguments",
        exit_status=pane.dead_status,
        exit_signal=pane.dead_signal,
        last_lines=lines,
        kept=False,
    )


def _agent_wrote(ctx: Context, owned: OwnedSession) -> str | None:
    """What the agent changed since the baseline, in words (files, or commits of a repo task); None if nothing."""
    d = manifests.diff(owned.baseline, ctx.capture(owned.ws, None))
    if any(d.counts.values()):
        return "files (" + ", ".join(f"{n} {what}" for what, n in d.counts.items() if n) + ")"
    repo = owned.facts.repo
    if repo is not None and (gitview.view(repo).get("counts") or {}).get("commits"):
        return "commits on branch " + repo.branch
    return None


def agent_cwd(ws: Workspace, meta: TaskMeta) -> str:
    """Where the agent starts: the worktree of a repo task, else its tree (created again if it went)."""
    if meta.repo is None:
        ws.tree.mkdir(exist_ok=True)
        return ws.tree_dir
    if not Path(meta.repo.worktree).is_dir():
        raise GitError(
            f"task {ws.name}'s worktree {meta.repo.worktree} is gone; recreate it with "
            f"`git -C {meta.repo.path} worktree add {meta.repo.worktree} {meta.repo.branch}`, "
            f"or remove the task with `ctask rm {ws.name}`",
            reason="worktree_missing",
            repo=meta.repo.path,
        )
    return meta.repo.worktree


def busy(ws: Workspace, lease: Lease) -> TaskBusy:
    return TaskBusy(
        f"task {ws.name} is in use by {lease.host} pid {lease.pid} since {timeutil.rfc3339(lease.started_at)}; "
        f"attach with `ctask attach {ws.name}` or stop it with `ctask stop {ws.name}`",
        name=ws.name,
        host=lease.host,
        pid=lease.pid,
    )
