"""Launch, passive reattach, adoption, finalize and reconciliation.

This is the session core both front doors drive.  It knows nothing of
terminals or JSON-RPC: the CLI attaches the user's terminal, the server hands
a terminal spec to the editor.  Diagnostics go to ``Core.say`` (the CLI prints
them on stderr, the server sends ``window/logMessage``).

Invariants it keeps (see the README's guarantees):

* a lease is written only under the write lock, after re-reading it there, so
  of any number of concurrent adopters on one host exactly one wins;
* every session that had a start manifest gets exactly one session-log record:
  finalize checks the log for the session id before appending, and the start
  manifest is removed last, so a crash anywhere in finalize is completed by the
  next reconcile;
* a session's identity (``session_id`` in summaries and the log) is fixed at
  launch: it is stored in the start manifest and tagged on the tmux session.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
import typing as t
from pathlib import Path

from ctask_ls.core import git as gitrepo
from ctask_ls.core import lease as leases
from ctask_ls.core import manifest as manifests
from ctask_ls.core import records, timeutil
from ctask_ls.core import workspace as workspaces
from ctask_ls.core.agent import AgentSpec, ResolvedAgent, launch_environment, resolve
from ctask_ls.core.errors import (
    AdoptionDeclined,
    CorruptMetadata,
    CtaskError,
    GitError,
    InvalidArgument,
    LaunchFailed,
    NoSession,
    TaskBusy,
    TaskExists,
    TaskNotFound,
    TmuxError,
)
from ctask_ls.core.lease import LeaseInfo
from ctask_ls.core.storage import MetadataCache, atomic_write, keep_aside, require_lock, write_lock
from ctask_ls.core.tmux import PaneState, Tmux
from ctask_ls.core.workspace import RepoInfo

if t.TYPE_CHECKING:
    import datetime as dt

    from ctask_ls.core.config import Config
    from ctask_ls.core.lease import Lease
    from ctask_ls.core.workspace import TaskMeta, Workspace

Say = t.Callable[[str], None]
Confirm = t.Callable[["Workspace", "LeaseInfo"], bool]
FaultHook = t.Callable[[str], None]
ProgressHook = t.Callable[["Workspace", str, int], None]


def _no_fault(point: str) -> None:
    """Fault points: tests set CTASK_FAULT=<point> to SIGKILL the process there.

    ``CTASK_PAUSE=<point>:<seconds>`` sleeps there instead, which widens a
    race window so that a test of the ordering around it cannot pass by luck.
    """
    if os.environ.get("CTASK_FAULT") == point:
        os.kill(os.getpid(), 9)
    paused, _, seconds = os.environ.get("CTASK_PAUSE", "").rpartition(":")
    if paused == point:
        time.sleep(float(seconds))


class EndReason(enum.StrEnum):
    AGENT_EXITED = "agent_exited"
    TMUX_SESSION_ENDED = "tmux_session_ended"
    STOPPED = "stopped"
    ENDED_UNOWNED = "ended_unowned"


@dataclasses.dataclass(frozen=True)
class TaskStatus:
    """One task as ``list``/``status`` (and the server) show it."""

    name: str
    workspace: str
    lease: LeaseInfo
    tmux_session: str
    tmux_alive: bool
    meta: TaskMeta | None
    last_summary: dict[str, t.Any] | None
    running: bool
    """A session with a baseline (start manifest) exists."""
    error: CorruptMetadata | None = None

    def to_json(self) -> dict[str, t.Any]:
        last = None
        if self.last_summary is not None:
            last = {k: v for k, v in records.log_record(self.last_summary).items() if k != "last_lines"}
        data: dict[str, t.Any] = {
            "name": self.name,
            "workspace": self.workspace,
            "lease": self.lease.to_json(),
            "tmux_session": self.tmux_session,
            "tmux_alive": self.tmux_alive,
            "updated_at": timeutil.rfc3339(self.meta.updated_at) if self.meta else None,
            "created_at": timeutil.rfc3339(self.meta.created_at) if self.meta else None,
            "description": self.meta.description if self.meta else None,
            "agent": self.meta.agent.to_mapping() if self.meta else None,
            "provisional": self.meta.provisional if self.meta else None,
            "repo": self.meta.repo.to_mapping() if self.meta and self.meta.repo else None,
            "last_summary": last,
        }
        if self.error is not None:
            data["error"] = str(self.error)
        return data


class DispatchKind(enum.StrEnum):
    PASSIVE = "passive"
    ADOPTED = "adopted"
    NONE = "none"


@dataclasses.dataclass
class Dispatch:
    """What the persistent dispatcher decided (SPEC 3.6)."""

    kind: DispatchKind
    ws: Workspace
    info: LeaseInfo | None = None
    owned: OwnedSession | None = None


class Core:
    """The session core, configured once per front door."""

    def __init__(
        self,
        config: Config,
        *,
        owner: str = "cli",
        say: Say | None = None,
        tmux: Tmux | None = None,
        fault: FaultHook = _no_fault,
    ) -> None:
        self.config = config
        self.owner = owner
        self.say: Say = say or (lambda _msg: None)
        self.tmux = tmux or Tmux(config.tmux_socket)
        self.host = leases.hostname()
        self.heartbeats = leases.HeartbeatService(lock_timeout=config.lock_timeout)
        self.fault = fault
        self.memory_cache = MetadataCache(None)
        """Parsed task.yaml/summary.yaml keyed by file identity, for `status` in a long-lived process."""
        self.lease_reads = leases.LeaseReads()
        """The same for lease files (display only)."""
        self.progress: ProgressHook | None = None
        """Called with (workspace, "begin" | "report" | "end", files so far) around captures."""
        self.exit_channel = f"ctask-exit-{os.getpid()}-{secrets.token_hex(4)}"
        """The tmux ``wait-for`` channel that the sessions this process owns signal when their agent dies."""

    # -- lookup -----------------------------------------------------------------

    def workspace(self, name: object) -> Workspace:
        return workspaces.open_workspace(self.config, name)

    def load(self, name: object) -> tuple[Workspace, TaskMeta]:
        ws = self.workspace(name)
        return ws, ws.read_meta()

    def inspect(self, ws: Workspace) -> LeaseInfo:
        return leases.inspect_lease(ws, stale_after=self.config.stale_after, host=self.host)

    def names(self) -> list[str]:
        return workspaces.task_names(self.config)

    def status(
        self,
        name: object,
        *,
        panes: dict[str, PaneState] | None = None,
        reconcile: bool = True,
        cache: MetadataCache | None = None,
    ) -> TaskStatus:
        """A task's status; reconciles an ended unowned session first."""
        ws = self.workspace(name)
        if not os.path.isdir(ws.dir):
            raise TaskNotFound(f"task '{ws.name}' does not exist; create it with `ctask new {ws.name}`", name=ws.name)
        return self._status(ws, panes, reconcile, cache, None)

    def _status(
        self,
        ws: Workspace,
        panes: dict[str, PaneState] | None,
        reconcile: bool,
        cache: MetadataCache | None,
        present: frozenset[str] | None,
    ) -> TaskStatus:
        """``present``: the names in ``.ctask/`` when the caller listed it (saves a stat per file)."""
        cache = cache if cache is not None else self.memory_cache
        if panes is None:
            panes = self.tmux.panes() if self.tmux.available() else {}

        def has(name: str) -> bool:
            return name in present if present is not None else os.path.exists(f"{ws.dir}/.ctask/{name}")

        meta: TaskMeta | None = None
        error: CorruptMetadata | None = None
        try:
            meta = ws.read_meta(cache)
        except CorruptMetadata as exc:
            error = exc
        except TaskNotFound:
            if not ws.ctask_dir.is_dir():
                raise
            error = CorruptMetadata(str(ws.task_yaml), "missing", hint=f"run `ctask repair {ws.name}`")
        running = has("manifest.start.json")
        if reconcile and error is None and running:
            try:
                if self.reconcile(ws, panes=panes) is not None:
                    panes = self.tmux.panes()
                    running, present = ws.manifest_start.exists(), None
            except CtaskError as exc:
                self.say(f"warning: could not reconcile task {ws.name}: {exc}")
        if present is None or "lease.yaml" in present:
            info = leases.inspect_lease(ws, stale_after=self.config.stale_after, host=self.host, reads=self.lease_reads)
        else:
            info = LeaseInfo(leases.MISSING)
        if error is None and info.error is not None:
            error = info.error
        summary, summary_error = records.load_summary_or_none(ws, cache) if has("summary.yaml") else (None, None)
        if error is None and summary_error is not None:
            error = summary_error
        pane = panes.get(ws.tmux_session)
        return TaskStatus(
            name=ws.name,
            workspace=ws.dir,
            lease=info,
            tmux_session=ws.tmux_session,
            tmux_alive=pane is not None and not pane.dead,
            meta=meta,
            last_summary=summary,
            running=running,
            error=error,
        )

    def list_tasks(self) -> list[TaskStatus]:
        """Every task, one tmux call for all of them and one directory listing per task."""
        panes = self.tmux.panes() if self.tmux.available() else {}
        cache = self.metadata_cache()
        out = []
        tasks_dir = str(self.config.tasks_dir)
        for name in self.names():
            ws = workspaces.Workspace(tasks_dir, name)  # names() lists real directories only
            try:
                present = frozenset(os.listdir(ws.dir + "/.ctask"))
            except FileNotFoundError:
                present = frozenset()
            except OSError:
                present = None
            with contextlib.suppress(TaskNotFound):  # removed while we looked
                out.append(self._status(ws, panes, True, cache, present))
        cache.save()
        return out

    def metadata_cache(self) -> MetadataCache:
        return MetadataCache(self.config.home / "cache" / "metadata.json")

    def last_task(self) -> str:
        """The task updated most recently."""
        best: tuple[float, str] | None = None
        cache = self.metadata_cache()
        unreadable = 0
        for name in self.names():
            try:
                meta = self.workspace(name).read_meta(cache)
            except CtaskError:
                unreadable += 1
                continue
            key = (meta.updated_at.timestamp(), name)
            if best is None or key > best:
                best = key
        cache.save()
        if best is None and unreadable:
            raise TaskNotFound(
                f"no task can be read ({unreadable} with corrupt metadata); `ctask list` shows them and how to repair"
            )
        if best is None:
            raise TaskNotFound("there are no tasks yet; create one with `ctask new NAME`")
        return best[1]

    # -- agents -----------------------------------------------------------------

    def resolve_agent(self, meta: TaskMeta, override: str | None = None, *, shell: bool = False) -> ResolvedAgent:
        if shell:
            spec = AgentSpec(os.environ.get("SHELL") or "/bin/sh")
            return resolve(spec, label="shell")
        spec = meta.agent.with_command(override)
        return resolve(spec)

    # -- new ----------------------------------------------------------------------

    def create(
        self,
        name: object,
        *,
        agent: str | None = None,
        args: t.Sequence[str] | None = None,
        description: str | None = None,
        repo: object = None,
        branch: object = None,
        base: object = None,
    ) -> tuple[Workspace, TaskMeta, ResolvedAgent]:
        """Create a provisional workspace and resolve its agent (removed again on failure).

        With ``repo``, the workspace also gets a git worktree of that
        repository on a new branch (see :mod:`ctask_ls.core.git`); every git
        check runs before anything is written.
        """
        valid = workspaces.validate_name(name)
        if self.workspace(valid).root.exists():
            raise TaskExists(
                f"task '{valid}' already exists; resume it with `ctask resume {valid}` or pick another name",
                name=valid,
            )
        if repo is None and (branch is not None or base is not None):
            raise InvalidArgument("branch and base need repo: pass --repo PATH too")
        spec = self.config.agent.with_command(agent)
        if args is not None:
            if not all(isinstance(a, str) and "\0" not in a for a in args):
                raise InvalidArgument("agent arguments must be strings without NUL characters")
            spec = dataclasses.replace(spec, args=tuple(args))
        resolved = resolve(spec)  # before any file is written
        self.tmux.binary()
        info: RepoInfo | None = None
        if repo is not None:
            plan = gitrepo.plan(repo, valid, branch=branch, base=base)
            worktree = self.workspace(valid).root / plan.dirname
            info = RepoInfo(
                path=plan.repo, branch=plan.branch, base=plan.base, worktree=str(worktree), base_ref=plan.base_ref
            )
        ws = workspaces.create(self.config, valid, spec, description=description, repo=info)
        try:
            if info is not None:
                self.fault("new.before_worktree")
                try:
                    gitrepo.add_worktree(info)
                except CtaskError:  # it undid its own work; what is left in git is not ours
                    shutil.rmtree(ws.root, ignore_errors=True)
                    raise
                self.fault("new.worktree_added")
            meta = ws.read_meta()
        except BaseException:
            self.discard_provisional(ws)
            raise
        return ws, meta, resolved

    def new(
        self,
        name: object,
        *,
        agent: str | None = None,
        args: t.Sequence[str] | None = None,
        description: str | None = None,
        repo: object = None,
        branch: object = None,
        base: object = None,
        around_launch: t.Callable[[Workspace], t.ContextManager[object]] | None = None,
    ) -> tuple[Workspace, OwnedSession]:
        """``new``: create the task, launch its agent; a failure leaves no task (nor worktree, nor branch).

        ``around_launch`` wraps the launch (the server holds its lease watcher there).
        """
        ws, _meta, resolved = self.create(
            name, agent=agent, args=args, description=description, repo=repo, branch=branch, base=base
        )
        try:
            with around_launch(ws) if around_launch is not None else contextlib.nullcontext():
                owned = self.launch(ws, resolved)  # clears provisional once the agent runs
        except BaseException:
            self.discard_provisional(ws)
            raise
        return ws, owned

    def discard_provisional(self, ws: Workspace) -> None:
        """Remove a workspace that ``new`` created and that never ran (with its worktree and branch)."""
        with contextlib.suppress(OSError, CtaskError):
            meta = ws.read_meta()
            if not meta.provisional:
                return
            if meta.repo is not None:
                gitrepo.discard(meta.repo)
        shutil.rmtree(ws.root, ignore_errors=True)

    # -- launch (SPEC 3.5) ---------------------------------------------------------

    def launch(self, ws: Workspace, agent: ResolvedAgent) -> OwnedSession:
        """Take the lease, capture the baseline, start the agent in tmux, verify it."""
        self.tmux.binary()
        mode = "persistent" if self.config.mode == "persistent" or self.owner == "server" else "direct"
        if ws.manifest_start.exists():
            self.reconcile(ws)
        cwd = _agent_cwd(ws, ws.read_meta())
        started = timeutil.now()
        sid = leases.new_session_id(self.host, os.getpid(), started)
        lease = leases.Lease(
            session_id=sid,
            host=self.host,
            pid=os.getpid(),
            agent=agent.label,
            mode=mode,
            tmux_session=ws.tmux_session,
            started_at=started,
            heartbeat_at=started,
            owner=self.owner,
        )
        with require_lock(ws.lock_path, self.config.lock_timeout, what="take the lease"):
            info = self.inspect(ws)
            if info.error is not None:
                raise info.error
            if info.fresh and info.lease is not None:
                raise _busy(ws, info.lease)
            pane = self.tmux.pane(ws.tmux_session)
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
                self.tmux.kill_session(ws.tmux_session)
            if info.state == leases.STALE:
                records.event(ws, "stale_seen", reason=info.reason, session_id=_lease_sid(info))
            leases.write_lease(ws, lease)
            meta = ws.read_meta()
            ws.write_meta(dataclasses.replace(meta, updated_at=started))
        records.event(ws, "lease_taken", session_id=sid, host=self.host, owner=self.owner, agent=agent.label)
        self.fault("launch.lease_written")
        owned = OwnedSession(self, ws, lease, sid, started, "original", "owned", agent.label, mode)
        try:
            baseline = self.capture(ws, sid)
            with require_lock(ws.lock_path, self.config.lock_timeout, what="write the start manifest"):
                atomic_write(ws.manifest_start, baseline.to_json())
            owned.baseline = baseline
            self.fault("launch.manifest_written")
            self.heartbeats.add(ws, sid, self.config.heartbeat_interval, owned.on_lost)
            env = launch_environment(os.environ, self._ctask_vars(ws, sid, mode, cwd), agent.spec)
            if mode == "persistent":
                self.tmux.new_session(
                    ws.tmux_session, agent.argv, cwd=cwd, env=env, session_id=sid, exit_channel=self.exit_channel
                )
                _mark_launched(ws, sid)
                self.fault("launch.tmux_started")
                failed = self._verify(ws)
                if failed is not None:
                    raise self._launch_failed(owned, agent, failed)
            else:
                owned.start_direct(agent.argv, env, cwd)
                _mark_launched(ws, sid)
        except BaseException as exc:
            owned.abandon(f"launch failed: {exc}")
            raise
        with contextlib.suppress(CtaskError):  # "once running, provisional is cleared" (SPEC 3.5)
            if ws.read_meta().provisional:
                ws.touch(self.config.lock_timeout, provisional=False)
        self.fault("launch.verified")
        return owned

    def _ctask_vars(self, ws: Workspace, sid: str, mode: str, cwd: str) -> dict[str, str]:
        found = {
            "CTASK_TASK": ws.name,
            "CTASK_WORKSPACE": str(ws.root),
            "CTASK_SESSION_ID": sid,
            "CTASK_MODE": mode,
            "CTASK_HOME": str(self.config.home),
        }
        if cwd != str(ws.root):
            found["CTASK_WORKTREE"] = cwd
        return found

    def capture(self, ws: Workspace, sid: str | None) -> manifests.Manifest:
        """Capture the workspace's manifest, reporting progress through ``self.progress``."""
        hook = self.progress
        report = None
        if hook is not None:
            hook(ws, "begin", 0)
            report = lambda n: hook(ws, "report", n)  # noqa: E731
        try:
            m = manifests.capture(ws.root, self.config.ignore, progress=report)
        finally:
            if hook is not None:
                hook(ws, "end", 0)
        m.session_id = sid
        m.captured_at = timeutil.now_str()
        for problem in m.errors:
            self.say(f"warning: task {ws.name}: could not read {problem}")
        return m

    def _verify(self, ws: Workspace) -> PaneState | None:
        """Watch the agent's first moments: its dead pane if it failed at once, else None.

        Failing is exiting with a non-zero (or unknown) status or by a signal.
        An agent that exits 0 at once has done its job: its session ends as
        any other and the owner records it with its diff (SPEC 3.5 step 5).
        """
        deadline = time.monotonic() + self.config.launch_grace
        while True:
            pane = self.tmux.pane(ws.tmux_session)
            if pane is None and (why := self.tmux.server_error()) is not None:
                raise TmuxError(
                    f"the tmux server on {self.tmux.socket} stopped right after it started ({why}); "
                    "check that the socket's directory exists and is writable",
                    socket=self.tmux.socket,
                )
            if pane is not None and pane.dead:
                pane = self.tmux.settled_pane(ws.tmux_session, pane)
            if pane is None or pane.dead:
                if pane is not None and pane.dead_status == 0 and pane.dead_signal is None:
                    return None
                return pane or PaneState(ws.tmux_session, True, None, None, None, None)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def _launch_failed(self, owned: OwnedSession, agent: ResolvedAgent, pane: PaneState) -> LaunchFailed:
        """The error for an agent that failed at once; what it wrote is kept and recorded, never deleted.

        An agent that wrote nothing leaves no session: the launch is undone
        (and ``new`` removes its task).  One that wrote something gets its
        session recorded as any other (exit status, last lines, diff), and
        the task stays, no longer provisional: ctask never deletes a file the
        agent wrote, except through ``rm``.
        """
        ws = owned.ws
        lines = self.tmux.capture_tail(ws.tmux_session)
        if pane.dead_status is not None:
            how = f"exited with status {pane.dead_status}"
        elif pane.dead_signal is not None:
            how = f"was killed by signal {pane.dead_signal}"
        else:
            how = "exited (tmux did not report its exit status)"
        tail = " | ".join(lines[-3:]) if lines else "no output"
        message = f"agent '{agent.label}' {how} right after it started (last output: {tail}); "
        wrote = self._agent_wrote(ws, owned.baseline)
        if wrote:
            summary = owned.finalize(_EndState(EndReason.AGENT_EXITED, pane, last_lines=lines))
            with contextlib.suppress(CtaskError):
                if ws.read_meta().provisional:
                    ws.touch(self.config.lock_timeout, provisional=False)
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
        self.tmux.kill_session(ws.tmux_session)
        return LaunchFailed(
            message + "check the agent's command and arguments",
            exit_status=pane.dead_status,
            exit_signal=pane.dead_signal,
            last_lines=lines,
            kept=False,
        )

    def _agent_wrote(self, ws: Workspace, baseline: manifests.Manifest) -> str | None:
        """What the agent changed since the baseline, in words (files, or commits of a repo task); None if nothing."""
        d = manifests.diff(baseline, self.capture(ws, None))
        if any(d.counts.values()):
            return "files (" + ", ".join(f"{n} {what}" for what, n in d.counts.items() if n) + ")"
        with contextlib.suppress(CtaskError):
            repo = ws.read_meta().repo
            if repo is not None and (gitrepo.view(repo).get("counts") or {}).get("commits"):
                return "commits on branch " + repo.branch
        return None

    # -- dispatcher (SPEC 3.6) and adoption (SPEC 3.7) --------------------------------

    def dispatch(self, ws: Workspace, *, confirm: Confirm) -> Dispatch:
        """Decide between passive reattach, adoption and "no session" for ``ws``."""
        pane = self.tmux.pane(ws.tmux_session) if self.tmux.available() else None
        if pane is None or pane.dead:
            if ws.manifest_start.exists():
                self.reconcile(ws)
            elif pane is not None:
                self.tmux.kill_session(ws.tmux_session)
            return Dispatch(DispatchKind.NONE, ws)
        info = self.inspect(ws)
        if info.state == leases.FRESH_LOCAL:
            return Dispatch(DispatchKind.PASSIVE, ws, info)
        if info.error is not None:
            raise info.error
        if info.state == leases.FRESH_REMOTE and not confirm(ws, info):
            raise _declined(ws, info)
        owned = self.adopt(ws, pane, allow_remote=info.state == leases.FRESH_REMOTE)
        if owned is None:
            return Dispatch(DispatchKind.PASSIVE, ws, self.inspect(ws))
        return Dispatch(DispatchKind.ADOPTED, ws, self.inspect(ws), owned)

    def adopt(self, ws: Workspace, pane: PaneState | None = None, *, allow_remote: bool = False) -> OwnedSession | None:
        """Adopt an orphaned session; None means another owner won and we are passive."""
        self.say(f"adopting orphaned session of task {ws.name} (its previous owner exited without finalizing)")
        adopted_at = timeutil.now()
        lease_sid = leases.new_session_id(self.host, os.getpid(), adopted_at)
        meta = ws.read_meta()
        pane = pane or self.tmux.pane(ws.tmux_session)
        with write_lock(ws.lock_path, self.config.lock_timeout) as held:
            if not held:
                self.say(f"warning: could not lock task {ws.name} to adopt it; attaching passively")
                records.event(ws, "warning", message="adoption skipped: write lock timeout")
                return None
            info = self.inspect(ws)
            if info.state == leases.FRESH_LOCAL or (info.state == leases.FRESH_REMOTE and not allow_remote):
                return None
            if info.error is not None:
                raise info.error
            old_sid = _lease_sid(info)
            if info.state == leases.STALE:
                records.event(ws, "stale_seen", reason=info.reason, session_id=old_sid)
            lease = leases.Lease(
                session_id=lease_sid,
                host=self.host,
                pid=os.getpid(),
                agent=info.lease.agent if info.lease else meta.agent.command,
                mode="persistent",
                tmux_session=ws.tmux_session,
                started_at=adopted_at,
                heartbeat_at=adopted_at,
                owner=self.owner,
            )
            leases.write_lease(ws, lease)
            with contextlib.suppress(CtaskError):  # a running session: the task is no longer provisional
                ws.write_meta(dataclasses.replace(ws.read_meta(), updated_at=adopted_at, provisional=False))
            if pane is not None and pane.session_id and not ws.launched_marker.exists():
                _mark_launched(ws, pane.session_id)
            records.event(ws, "adopted", session_id=lease_sid, previous=old_sid, previous_state=info.state)
        self.fault("adopt.lease_written")
        agent_label = lease.agent
        owned = OwnedSession(self, ws, lease, lease_sid, adopted_at, "adoption", "adopted", agent_label, "persistent")
        owned.adopted_at = adopted_at
        try:
            baseline = self._original_baseline(ws)
            if baseline is not None:
                owned.baseline_kind = "original"
                owned.session_id = baseline.session_id or (pane.session_id if pane else None) or lease_sid
                if baseline.captured_at:
                    with contextlib.suppress(ValueError):
                        owned.started_at = timeutil.parse(baseline.captured_at)
            else:
                owned.session_id = (pane.session_id if pane else None) or lease_sid
                baseline = self.capture(ws, owned.session_id)
                with require_lock(ws.lock_path, self.config.lock_timeout, what="write the start manifest"):
                    atomic_write(ws.manifest_start, baseline.to_json())
            owned.baseline = baseline
            self.fault("adopt.baseline")
            self.heartbeats.add(ws, lease_sid, self.config.heartbeat_interval, owned.on_lost)
            self.tmux.signal_exit_to(ws.tmux_session, self.exit_channel)
        except BaseException as exc:
            owned.release(f"adoption failed: {exc}")
            raise
        return owned

    def _original_baseline(self, ws: Workspace) -> manifests.Manifest | None:
        try:
            return manifests.Manifest.load(ws.manifest_start)
        except FileNotFoundError:
            return None
        except CorruptMetadata as exc:
            self._manifest_aside(ws, exc, "captured a fresh baseline")
            return None

    def _manifest_aside(self, ws: Workspace, exc: CorruptMetadata, then: str, *, move: bool = True) -> None:
        """Keep a corrupt start manifest's bytes aside, never just delete them (``move`` False:
        keep the manifest too, for finalize to remove last as usual)."""
        try:
            kept = f"kept it as {keep_aside(ws.manifest_start, str(int(time.time())), move=move).name}"
        except OSError as err:
            kept = f"could not keep it aside ({err.strerror or err})"
        self.say(f"warning: {exc.path} is corrupt ({exc.error}); {kept} and {then}")
        records.event(ws, "warning", message=f"corrupt start manifest: {kept}")

    # -- reconciliation (SPEC 3.8) ---------------------------------------------------

    def reconcile(self, ws: Workspace, *, panes: dict[str, PaneState] | None = None) -> dict[str, t.Any] | None:
        """Finalize a session that ended while nobody owned it; None if there is none."""
        if not ws.manifest_start.exists():
            return None
        if panes is None:
            panes = self.tmux.panes() if self.tmux.available() else {}
        pane = panes.get(ws.tmux_session)
        if pane is not None and not pane.dead:
            return None
        info = self.inspect(ws)
        if info.fresh or info.error is not None:
            return None
        with write_lock(ws.lock_path, self.config.lock_timeout) as held:
            if not held:
                return None
            return self._finalize_unowned(ws, EndReason.ENDED_UNOWNED, "reconcile")

    def _finalize_unowned(self, ws: Workspace, reason: EndReason, detected_via: str) -> dict[str, t.Any] | None:
        """Finalize with no owner; the caller holds the write lock."""
        info = self.inspect(ws)
        if info.fresh or info.error is not None:
            return None
        corrupt: CorruptMetadata | None = None
        try:
            baseline = manifests.Manifest.load(ws.manifest_start)
        except FileNotFoundError:
            return None
        except CorruptMetadata as exc:
            baseline, corrupt = manifests.Manifest({}), exc
        pane = self.tmux.pane(ws.tmux_session)
        if pane is not None and not pane.dead and reason is EndReason.ENDED_UNOWNED:
            return None
        if corrupt is not None:
            self._manifest_aside(ws, corrupt, "recorded the session without a baseline", move=False)
        if pane is None and not _launched(ws, baseline.session_id):
            # The launcher died before tmux ran the agent: not a session, nothing to record.
            for path in (ws.manifest_start, ws.lease_path, ws.stop_marker):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            records.event(ws, "launch_failed", session_id=baseline.session_id, reason="the launcher died first")
            return None
        stop = _stop_requested(ws, baseline.session_id or (pane.session_id if pane else None))
        if stop is not None:
            reason = EndReason.STOPPED
        # The session id, even without a readable baseline: a rerun after a crash must find the same record.
        sid = (
            baseline.session_id
            or (pane.session_id if pane else None)
            or _launched_sid(ws)
            or f"{self.host}-unknown-{int(time.time())}"
        )
        started = _parse_or_now(baseline.captured_at)
        agent = _lease_agent(info) or _meta_agent(ws)
        end = _EndState(reason, pane, ended_at=_stop_time(stop) if stop is not None else None)
        if stop is not None and stop.get("last_lines"):
            end.last_lines = list(stop["last_lines"])
        summary = _Finalizer(self, ws).run(
            session_id=sid,
            baseline=baseline,
            baseline_kind="original" if corrupt is None else "none",
            started_at=started,
            agent=agent,
            mode="persistent",
            ownership="unowned",
            end=end,
            detected_via=detected_via,
            adopted_at=None,
            lease_sid=None,
        )
        return summary

    # -- stop / diff / log / remove ------------------------------------------------------

    def stop(self, name: object, *, wait: float | None = None) -> dict[str, t.Any]:
        """Kill the task's tmux session; its owner finalizes (or we do when there is none)."""
        ws, _meta = self.load(name)
        info = self.inspect(ws)
        if info.state == leases.FRESH_REMOTE and info.lease is not None:
            raise TaskBusy(
                f"task {ws.name} is owned by {info.lease.host} pid {info.lease.pid}; stop it on that host",
                name=ws.name,
            )
        pane = self.tmux.pane(ws.tmux_session) if self.tmux.available() else None
        other_owner = info.state == leases.FRESH_LOCAL and info.lease is not None and info.lease.pid != os.getpid()
        if pane is None or pane.dead:
            # The agent already ended. A live owner records it, with the exit status the
            # dead pane keeps: leave the pane alone.
            summary = self.reconcile(ws) if ws.manifest_start.exists() and not other_owner else None
            if summary is not None:
                return {"stopped": False, "finalized": True, "summary": summary}
            if pane is not None and not info.fresh:
                self.tmux.kill_session(ws.tmux_session)
            raise NoSession(f"task {ws.name} has no running session; nothing to stop", name=ws.name)
        lines = self.tmux.capture_tail(ws.tmux_session)
        marker = {
            "requested_at": timeutil.now_str(),
            "by_pid": os.getpid(),
            "host": self.host,
            "session_id": pane.session_id,
            "last_lines": lines,
        }
        with require_lock(ws.lock_path, self.config.lock_timeout, what="request the stop"):
            # Re-check under the lock: the session may have ended and been recorded meanwhile,
            # and a request left behind would mark the *next* session as stopped.
            now_pane = self.tmux.pane(ws.tmux_session)
            if now_pane is None or now_pane.dead or now_pane.session_id != pane.session_id:
                pane = None
            else:
                atomic_write(ws.stop_marker, json.dumps(marker))
        if pane is None:
            if other_owner:
                return self._await_owner(ws, wait, stopped=False)
            summary, _err = records.load_summary_or_none(ws)
            return {"stopped": False, "finalized": True, "summary": summary}
        records.event(ws, "stop_requested", session_id=pane.session_id)
        self.tmux.kill_session(ws.tmux_session)
        if other_owner:
            result = self._await_owner(ws, wait, stopped=True)
            if result["finalized"] or self.inspect(ws).fresh:
                return result
        if info.state == leases.FRESH_LOCAL and info.lease is not None and info.lease.pid == os.getpid():
            return {"stopped": True, "finalized": False, "summary": None}  # our own poller finalizes
        with require_lock(ws.lock_path, self.config.lock_timeout, what="finalize the stopped session"):
            summary = self._finalize_unowned(ws, EndReason.STOPPED, "polling")
        if summary is None:
            summary, _err = records.load_summary_or_none(ws)
        return {"stopped": True, "finalized": True, "summary": summary}

    def _await_owner(self, ws: Workspace, wait: float | None, *, stopped: bool) -> dict[str, t.Any]:
        """Wait for a live owner to record the session (its start manifest goes last)."""
        deadline = time.monotonic() + (wait if wait is not None else max(10.0, 5 * self.config.poll_interval))
        while time.monotonic() < deadline:
            if not ws.manifest_start.exists():
                summary, _err = records.load_summary_or_none(ws)
                return {"stopped": stopped, "finalized": True, "summary": summary}
            if not self.inspect(ws).fresh:
                break
            time.sleep(0.05)
        return {"stopped": stopped, "finalized": False, "summary": None}

    def diff(self, name: object) -> dict[str, t.Any]:
        """Live diff against the running session's baseline, else the last summary's.

        A repo task's diff also has ``git``: git's view against the task's
        base (live while a session runs, else the last summary's).
        """
        ws, meta = self.load(name)
        try:
            baseline = manifests.Manifest.load(ws.manifest_start)
        except FileNotFoundError:
            baseline = None
        if baseline is not None:
            current = self.capture(ws, None)
            d = manifests.diff(baseline, current)
            live: dict[str, t.Any] = {"name": ws.name, "live": True, "session_id": baseline.session_id, **d.to_json()}
            if meta.repo is not None:
                live["git"] = gitrepo.view(meta.repo)
            return live
        summary = records.read_summary(ws)
        if summary is None:
            raise NoSession(f"task {ws.name} has no session yet; start one with `ctask resume {ws.name}`", name=ws.name)
        ended = {
            "name": ws.name,
            "live": False,
            "session_id": summary.get("session_id"),
            **{k: summary.get(k, []) for k in records.FILE_LISTS},
            "counts": summary.get("counts", {}),
            "bytes": summary.get("bytes", {}),
        }
        if isinstance(summary.get("git"), dict):
            ended["git"] = summary["git"]
        return ended

    def log(self, name: object, limit: int | None = None) -> tuple[list[dict[str, t.Any]], list[str]]:
        ws, _meta = self.load(name)
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise InvalidArgument("limit must be a non-negative integer")
        return records.read_sessions(ws, limit)

    def remove(self, name: object, *, force: bool = False, delete_branch: bool = False) -> dict[str, t.Any]:
        """Remove a task's workspace; for a repo task, its worktree through git first.

        Returns ``{removed, workspace, branch?, branch_deleted?, warnings}``.
        Without ``force``: refuses a leased or running task, and a worktree
        with uncommitted changes or with commits no other branch has.
        """
        ws = self.workspace(name)
        if not ws.root.is_dir():
            raise TaskNotFound(f"task '{ws.name}' does not exist", name=ws.name)
        if delete_branch not in (True, False):
            raise InvalidArgument("delete_branch must be true or false")
        info = self.inspect(ws)
        pane = self.tmux.pane(ws.tmux_session) if self.tmux.available() else None
        alive = pane is not None and not pane.dead
        provisional = False
        try:
            meta = ws.read_meta()
            repo, provisional = meta.repo, meta.provisional
        except CtaskError:
            if not force:
                raise
            repo = None  # a corrupt task.yaml with --force: the files go, git prunes the worktree later
        if not force:
            if info.fresh and info.lease is not None:
                raise TaskBusy(
                    f"task {ws.name} is in use by {info.lease.host} pid {info.lease.pid}; "
                    f"stop it first or pass --force",
                    name=ws.name,
                )
            if alive:
                raise TaskBusy(
                    f"task {ws.name} has a running session; stop it with `ctask stop {ws.name}` or pass --force",
                    name=ws.name,
                )
            if repo is not None and (problem := gitrepo.removal_problem(repo)) is not None:
                raise problem
        if pane is not None:
            self.tmux.kill_session(ws.tmux_session)
        result: dict[str, t.Any] = {"removed": ws.name, "workspace": str(ws.root), "warnings": []}
        if repo is not None:
            deleted = False
            try:
                # A task that never ran (a `new` killed half-way) also loses its untouched branch.
                result["warnings"], deleted = gitrepo.remove_worktree(
                    repo, force=force, delete_branch=delete_branch, provisional=provisional
                )
            except CtaskError as exc:
                if not force:
                    raise
                result["warnings"] = [str(exc)]
            result["branch"] = repo.branch
            result["branch_deleted"] = deleted
        elif delete_branch:
            result["warnings"].append(f"task {ws.name} is not on a git repository: no branch to delete")
        _remove_tree(ws.root)
        if repo is not None:
            with contextlib.suppress(CtaskError):
                gitrepo.forget_worktree(repo)  # after a forced rm that git refused
        return result

    def launch_result(self, ws: Workspace, owned: OwnedSession | None, action: str) -> dict[str, t.Any]:
        """``{task, action, session, terminal}``: what a launching command returns (CLI --json and server)."""
        return {
            "task": ws.name,
            "action": action,
            "session": {
                "session_id": owned.session_id if owned else None,
                "tmux_session": ws.tmux_session,
                "lease": self.inspect(ws).to_json(),
            },
            "terminal": self.terminal_spec(ws),
        }

    def terminal_spec(self, ws: Workspace) -> dict[str, t.Any]:
        """What an editor runs in its own terminal to attach to the task's session."""
        argv = self.tmux.attach_argv(ws.tmux_session)
        cwd = str(ws.root)
        with contextlib.suppress(CtaskError):
            repo = ws.read_meta().repo
            if repo is not None and Path(repo.worktree).is_dir():
                cwd = repo.worktree
        return {
            "name": f"ctask: {ws.name}",
            "command": argv[0],
            "args": argv[1:],
            "cwd": cwd,
            "env": {"TMUX": ""},
        }


class OwnedSession:
    """A session this process owns: its lease, heartbeat, baseline and finalize."""

    def __init__(
        self,
        core: Core,
        ws: Workspace,
        lease: Lease,
        session_id: str,
        started_at: dt.datetime,
        baseline_kind: str,
        ownership: str,
        agent: str,
        mode: str,
    ) -> None:
        self.core = core
        self.ws = ws
        self.lease = lease
        self.session_id = session_id
        self.started_at = started_at
        self.baseline_kind = baseline_kind
        self.ownership = ownership
        self.agent = agent
        self.mode = mode
        self.baseline: manifests.Manifest = manifests.Manifest({})
        self.adopted_at: dt.datetime | None = None
        self.lost: str | None = None
        self.done = False
        self._child: t.Any = None
        self._mutex = threading.Lock()
        self._repo: RepoInfo | bool | None = False
        """The task's repository, read from task.yaml on first use (False: not read yet)."""

    def __repr__(self) -> str:
        return f"OwnedSession({self.ws.name!r}, {self.session_id!r}, {self.ownership})"

    def on_lost(self, why: str) -> None:
        self.lost = why
        self.core.say(f"warning: task {self.ws.name}: lost ownership ({why}); the new owner will record the session")
        records.event(self.ws, "warning", message=f"lease lost: {why}", session_id=self.lease.session_id)

    # -- direct mode --------------------------------------------------------------------

    def start_direct(self, argv: list[str], env: dict[str, str], cwd: str) -> None:
        self._child = subprocess.Popen(argv, cwd=cwd, env=env)

    # -- watching -------------------------------------------------------------------------

    def check(self, panes: dict[str, PaneState]) -> _EndState | None:
        """Has the session ended, given one snapshot of tmux?"""
        if self._child is not None:
            code = self._child.poll()
            if code is None:
                return None
            return _EndState(EndReason.AGENT_EXITED, None, exit_status=code, detected_via="wait")
        pane = panes.get(self.ws.tmux_session)
        if pane is None:
            return _EndState(EndReason.TMUX_SESSION_ENDED, None)
        if pane.dead:
            return _EndState(EndReason.AGENT_EXITED, pane)
        return None

    def wait(self, *, interrupted: threading.Event | None = None) -> _EndState | None:
        """Watch until the session ends; None if interrupted or ownership was lost.

        tmux signals the owner's ``wait-for`` channel the moment the agent
        dies (the session's ``pane-died`` hook), so the end is seen at once;
        between signals a look every ``poll_interval`` (a second at most)
        catches the rest (a killed session, an exit tmux missed, a lost
        lease, an interrupt).
        """
        if self._child is not None:
            while True:
                try:
                    code = self._child.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    if interrupted is not None and interrupted.is_set():
                        return None
                    continue
                return _EndState(EndReason.AGENT_EXITED, None, exit_status=code, detected_via="wait")
        tmux = self.core.tmux
        while True:
            if self.lost is not None:
                return None
            end = self.check(tmux.panes())
            if end is not None:
                return end
            if interrupted is not None and interrupted.is_set():
                return None
            tmux.wait_for(self.core.exit_channel, min(self.core.config.poll_interval, _EXIT_LOOK))

    def live_diff(self) -> manifests.Diff:
        return manifests.diff(self.baseline, self.core.capture(self.ws, None))

    def git_view(self) -> dict[str, t.Any] | None:
        """Git's view of a repo task now, as ``ctask diff`` shows it; None for a task without a repository."""
        if self._repo is False:
            try:
                self._repo = self.ws.read_meta().repo
            except CtaskError:
                return None  # unreadable task.yaml: the manifest diff still stands; read it again next time
        return gitrepo.view(self._repo) if isinstance(self._repo, RepoInfo) else None

    # -- ending ---------------------------------------------------------------------------

    def release(self, why: str = "released") -> None:
        """Stop heartbeating and remove our lease; the session keeps running unowned."""
        with self._mutex:
            if self.done:
                return
            self.done = True
        self.core.heartbeats.remove(self.ws)
        with contextlib.suppress(TaskNotFound), write_lock(self.ws.lock_path, self.core.config.lock_timeout) as held:
            if held and _is_ours(self.ws, self.lease.session_id):
                with contextlib.suppress(FileNotFoundError):
                    self.ws.lease_path.unlink()
                records.event(self.ws, "lease_released", session_id=self.lease.session_id, reason=why)

    def abandon(self, why: str) -> None:
        """Undo a launch that never got going: lease and baseline go."""
        with self._mutex:
            self.done = True
        self.core.heartbeats.remove(self.ws)
        with contextlib.suppress(TaskNotFound), write_lock(self.ws.lock_path, self.core.config.lock_timeout) as held:
            if held and _is_ours(self.ws, self.lease.session_id):
                with contextlib.suppress(FileNotFoundError):
                    self.ws.lease_path.unlink()
                with contextlib.suppress(FileNotFoundError):
                    self.ws.manifest_start.unlink()
                with contextlib.suppress(FileNotFoundError):
                    self.ws.launched_marker.unlink()
        records.event(self.ws, "launch_failed", session_id=self.session_id, reason=why)

    def finalize(self, end: _EndState, *, detected_via: str | None = None) -> dict[str, t.Any] | None:
        """Record the ended session; None if someone else owns it now or the task is gone (``lost`` says which)."""
        with self._mutex:
            if self.done:
                return None
            self.done = True
        self.core.heartbeats.remove(self.ws)
        self.core.fault("finalize.start")
        try:
            return self._finalize_locked(end, detected_via)
        except TaskNotFound:
            self.lost = _REMOVED_WHILE_RUNNING
            return None

    def _finalize_locked(self, end: _EndState, detected_via: str | None) -> dict[str, t.Any] | None:
        with write_lock(self.ws.lock_path, self.core.config.lock_timeout * 3) as held:
            if not held:
                self.core.say(
                    f"warning: could not lock task {self.ws.name} to finalize; the next `ctask list` will record it"
                )
                return None
            if not _is_ours(self.ws, self.lease.session_id):
                if not self.ws.task_yaml.exists():
                    self.lost = _REMOVED_WHILE_RUNNING
                else:
                    self.lost = self.lost or "another process took the session over and records it"
                return None
            stop = _stop_requested(self.ws, self.session_id)
            if stop is not None:
                end.reason = EndReason.STOPPED
                end.ended_at = _stop_time(stop)
                if stop.get("last_lines") and not end.last_lines:
                    end.last_lines = list(stop["last_lines"])
            return _Finalizer(self.core, self.ws).run(
                session_id=self.session_id,
                baseline=self.baseline,
                baseline_kind=self.baseline_kind,
                started_at=self.started_at,
                agent=self.agent,
                mode=self.mode,
                ownership=self.ownership,
                end=end,
                detected_via=detected_via or end.detected_via,
                adopted_at=self.adopted_at,
                lease_sid=self.lease.session_id,
            )


@dataclasses.dataclass
class _EndState:
    reason: EndReason
    pane: PaneState | None
    exit_status: int | None = None
    detected_via: str = "polling"
    last_lines: list[str] | None = None
    ended_at: dt.datetime | None = None
    """When the agent ended, when known before finalize (a stop request's time)."""


class _Finalizer:
    """SPEC 3.5 step 8, shared by owned, adopted and unowned sessions.

    The caller holds the write lock.  Order: read what tmux still knows, write
    the summary, append the log (once per session id), kill the tmux session,
    remove the lease, the stop marker and, last, the start manifest.
    """

    def __init__(self, core: Core, ws: Workspace) -> None:
        self.core = core
        self.ws = ws

    def run(
        self,
        *,
        session_id: str,
        baseline: manifests.Manifest,
        baseline_kind: str,
        started_at: dt.datetime,
        agent: str,
        mode: str,
        ownership: str,
        end: _EndState,
        detected_via: str,
        adopted_at: dt.datetime | None,
        lease_sid: str | None,
    ) -> dict[str, t.Any] | None:
        ws, core = self.ws, self.core
        if records.session_logged(ws, session_id):
            self._cleanup(lease_sid)  # a crash after the record was written: only tidy up
            return None
        exit_status = end.exit_status
        exit_signal: int | None = None
        lines = end.last_lines
        ended = end.ended_at
        if end.pane is not None and end.pane.dead:
            pane = core.tmux.settled_pane(ws.tmux_session, end.pane)
            if exit_status is None and pane is not None:
                exit_status = pane.dead_status
            if pane is not None and pane.dead_signal is not None:
                exit_signal = pane.dead_signal
            if pane is not None and pane.dead_time is not None:
                ended = timeutil.from_timestamp(pane.dead_time)  # when it ended, not when it was noticed
            if lines is None:
                lines = core.tmux.capture_tail(ws.tmux_session)
        final = core.capture(ws, None)
        d = manifests.diff(baseline, final)
        ended = ended or timeutil.now()
        summary: dict[str, t.Any] = {
            "schema": 1,
            "task": ws.name,
            "session_id": session_id,
            "host": core.host,
            "agent": agent,
            "mode": mode,
            "started_at": timeutil.rfc3339(started_at),
            "ended_at": timeutil.rfc3339(ended),
            "duration_s": max(0, int(ended.timestamp() - started_at.timestamp())),
            "baseline": baseline_kind,
            "added": d.added,
            "modified": d.modified,
            "deleted": d.deleted,
            "counts": d.counts,
            "bytes": d.bytes,
            "files_at_end": len(final.entries),
            "bytes_at_end": final.total_bytes,
            "end_reason": str(end.reason),
            "detected_via": detected_via,
            "session_ownership": ownership,
        }
        if adopted_at is not None:
            summary["adopted_from_orphan_at"] = timeutil.rfc3339(adopted_at)
        if exit_status is not None:
            summary["exit_status"] = exit_status
        if exit_signal is not None:
            summary["exit_signal"] = exit_signal
        if lines:
            summary["last_lines"] = lines
        if final.errors:
            summary["unreadable"] = final.errors
        with contextlib.suppress(CtaskError):  # task.yaml unreadable: the manifest diff still stands
            repo = ws.read_meta().repo
            if repo is not None:
                summary["git"] = gitrepo.view(repo)
        records.write_summary(ws, summary)
        core.fault("finalize.summary_written")
        records.append_session(ws, summary)
        core.fault("finalize.logged")
        self._cleanup(lease_sid)
        records.event(
            ws,
            "finalized",
            session_id=session_id,
            end_reason=str(end.reason),
            detected_via=detected_via,
            ownership=ownership,
        )
        return summary

    def _cleanup(self, lease_sid: str | None) -> None:
        ws, core = self.ws, self.core
        pane = core.tmux.pane(ws.tmux_session) if core.tmux.available() else None
        if pane is not None:
            core.tmux.kill_session(ws.tmux_session)
        if lease_sid is None or _is_ours(ws, lease_sid):
            info = core.inspect(ws)
            if not info.fresh or (info.lease is not None and info.lease.session_id == lease_sid):
                with contextlib.suppress(FileNotFoundError):
                    ws.lease_path.unlink()
                    records.event(ws, "lease_released", session_id=lease_sid, reason="finalized")
        with contextlib.suppress(FileNotFoundError):
            ws.stop_marker.unlink()
        core.fault("finalize.before_manifest_removed")
        with contextlib.suppress(FileNotFoundError):
            ws.manifest_start.unlink()
        with contextlib.suppress(FileNotFoundError):
            ws.launched_marker.unlink()


_EXIT_LOOK = 1.0
"""The longest an owner waits between two looks at its session: tmux runs no ``pane-died`` hook for an exit
it missed (see :meth:`Tmux.settled_pane`), and an attached user must get the terminal back within a second."""

_REMOVED_WHILE_RUNNING = "the task was removed while its session ran; nothing to record"


def _remove_tree(root: Path) -> None:
    """Remove a workspace as one step: rename it out of ``tasks/``, then delete it.

    A dying owner may still write into the workspace while it is deleted
    (``rm --force``); after the rename its writes find no task and fail, and
    nothing can refill the directory being deleted.  Should deleting still
    fail, the leftover is hidden: ``.NAME.removed-...`` is not a task name.
    """
    trash = root.with_name(f".{root.name}.removed-{os.getpid()}-{time.monotonic_ns()}")
    root.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)
    if trash.exists():
        time.sleep(0.1)
        shutil.rmtree(trash)


def _agent_cwd(ws: Workspace, meta: TaskMeta) -> str:
    """Where the agent starts: the worktree of a repo task, else the workspace."""
    if meta.repo is None:
        return str(ws.root)
    if not Path(meta.repo.worktree).is_dir():
        raise GitError(
            f"task {ws.name}'s worktree {meta.repo.worktree} is gone; recreate it with "
            f"`git -C {meta.repo.path} worktree add {meta.repo.worktree} {meta.repo.branch}`, "
            f"or remove the task with `ctask rm {ws.name}`",
            reason="worktree_missing",
            repo=meta.repo.path,
        )
    return meta.repo.worktree


def _mark_launched(ws: Workspace, session_id: str) -> None:
    """Record that tmux runs the session (a small atomic write; the launch holds the lease)."""
    atomic_write(ws.launched_marker, session_id)


def _launched(ws: Workspace, session_id: str | None) -> bool:
    """Whether the session of this start manifest ever ran (see Workspace.launched_marker)."""
    text = _launched_sid(ws)
    return text is not None and (session_id is None or text == session_id)


def _launched_sid(ws: Workspace) -> str | None:
    """The id in ``.ctask/launched``: the running session's, even when its start manifest is unreadable."""
    try:
        text = ws.launched_marker.read_text(encoding="utf-8", errors="replace").strip()
    except FileNotFoundError:
        return None
    return text or None


def _is_ours(ws: Workspace, lease_sid: str) -> bool:
    try:
        return leases.read_lease(ws).session_id == lease_sid
    except (FileNotFoundError, CorruptMetadata, OSError):
        return False


def _busy(ws: Workspace, lease: Lease) -> TaskBusy:
    return TaskBusy(
        f"task {ws.name} is in use by {lease.host} pid {lease.pid} since {timeutil.rfc3339(lease.started_at)}; "
        f"attach with `ctask attach {ws.name}` or stop it with `ctask stop {ws.name}`",
        name=ws.name,
        host=lease.host,
        pid=lease.pid,
    )


def _declined(ws: Workspace, info: LeaseInfo) -> AdoptionDeclined:
    lease = info.lease
    who = f"{lease.host} pid {lease.pid}" if lease else "another host"
    return AdoptionDeclined(
        f"task {ws.name} is held by {who} with a fresh heartbeat; "
        "adoption declined (rerun with --yes to adopt it here)",
        name=ws.name,
    )


def _lease_sid(info: LeaseInfo) -> str | None:
    return info.lease.session_id if info.lease else None


def _lease_agent(info: LeaseInfo) -> str | None:
    return info.lease.agent if info.lease else None


def _meta_agent(ws: Workspace) -> str:
    try:
        return ws.read_meta().agent.command
    except CtaskError:
        return "unknown"


def _parse_or_now(value: str | None) -> dt.datetime:
    if value:
        with contextlib.suppress(ValueError):
            return timeutil.parse(value)
    return timeutil.now()


def _stop_time(stop: dict[str, t.Any]) -> dt.datetime | None:
    """When a stop request was made (the session was killed right after), if it says."""
    with contextlib.suppress(ValueError, TypeError):
        return timeutil.parse(stop["requested_at"]) if stop.get("requested_at") else None
    return None


def _stop_requested(ws: Workspace, session_id: str | None) -> dict[str, t.Any] | None:
    """The stop request for this session; a request left for another session is removed."""
    marker = _read_stop_marker(ws)
    if marker is None:
        return None
    wanted = marker.get("session_id")
    if wanted and session_id and wanted != session_id:
        with contextlib.suppress(FileNotFoundError):
            ws.stop_marker.unlink()
        return None
    return marker


def _read_stop_marker(ws: Workspace) -> dict[str, t.Any] | None:
    try:
        data = json.loads(ws.stop_marker.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
