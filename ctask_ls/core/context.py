"""What every step of a session's life shares: the configuration, tmux, the heartbeat and the diagnostics.

A front door configures one :class:`Context` (through :class:`ctask_ls.core.api.Core`,
which is one) and every lifecycle step takes it as its first argument.  It
knows nothing of terminals or JSON-RPC: diagnostics go to ``say`` (the CLI
prints them on stderr, the server sends ``window/logMessage``), large
manifest captures report to ``progress``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import typing as t
from pathlib import Path

from ctask_ls.core import config as configs
from ctask_ls.core import lease as leases
from ctask_ls.core import manifest as manifests
from ctask_ls.core import migrate, profiles, timeutil
from ctask_ls.core import workspace as workspaces
from ctask_ls.core.errors import InvalidArgument
from ctask_ls.core.heartbeat import HeartbeatService
from ctask_ls.core.storage import FileKey, MetadataCache, atomic_write, require_lock, write_private
from ctask_ls.core.tmux import Tmux

if t.TYPE_CHECKING:
    from ctask_ls.core.agent import ResolvedAgent
    from ctask_ls.core.config import Config
    from ctask_ls.core.lease import LeaseInfo
    from ctask_ls.core.profiles import Profile
    from ctask_ls.core.tmux import PaneState
    from ctask_ls.core.workspace import TaskMeta, Workspace

Say = t.Callable[[str], None]
Confirm = t.Callable[["Workspace", "LeaseInfo"], bool]
FaultHook = t.Callable[[str], None]
ProgressHook = t.Callable[["Workspace", str, int], None]


def no_fault(point: str) -> None:
    """Fault points: tests set CTASK_FAULT=<point> to SIGKILL the process there.

    ``CTASK_PAUSE=<point>:<seconds>`` sleeps there instead, which widens a
    race window so that a test of the ordering around it cannot pass by luck.
    """
    if os.environ.get("CTASK_FAULT") == point:
        os.kill(os.getpid(), 9)
    paused, _, seconds = os.environ.get("CTASK_PAUSE", "").rpartition(":")
    if paused == point:
        time.sleep(float(seconds))


class Context:
    """The session core's state, configured once per front door."""

    def __init__(
        self,
        config: Config,
        *,
        owner: str = "cli",
        persistent_only: bool = False,
        say: Say | None = None,
        tmux: Tmux | None = None,
        fault: FaultHook = no_fault,
    ) -> None:
        self.heartbeats = HeartbeatService(lock_timeout=config.lock_timeout)
        self.config = config
        self.owner = owner
        """Written into the leases this process takes (``cli`` or ``server``): who to look for, not a mode."""
        self.persistent_only = persistent_only
        """Launch in tmux whatever ``config.mode`` says (the server has no terminal for a direct session)."""
        self.say: Say = say or (lambda _msg: None)
        self.tmux = tmux or Tmux(config.tmux_socket)
        self.host = leases.hostname()
        self.fault = fault
        self.memory_cache = MetadataCache(None)
        """Parsed task.yaml/summary.yaml keyed by file identity, for `status` in a long-lived process."""
        self.lease_reads = leases.LeaseReads()
        """The same for lease files (display only)."""
        self.progress: ProgressHook | None = None
        """Called with (workspace, "begin" | "report" | "end", files so far) around captures."""
        self._laid_out: set[Path] = set()
        self._layout_lock = threading.Lock()
        # os.urandom(4).hex() is secrets.token_hex(4), without importing secrets (and hmac, hashlib) at every start
        self.exit_channel = f"ctask-exit-{os.getpid()}-{os.urandom(4).hex()}"
        """The tmux ``wait-for`` channel that the sessions this process owns signal when their agent dies."""

    @property
    def config(self) -> Config:
        return self._config

    @config.setter
    def config(self, config: Config) -> None:
        """New settings reach every reader, the heartbeat thread included."""
        self._config = config
        self.heartbeats.lock_timeout = config.lock_timeout

    @property
    def mode(self) -> str:
        """How a launch runs its agent: ``persistent`` (tmux) or ``direct`` (a child on this terminal)."""
        return "persistent" if self.persistent_only or self.config.mode == "persistent" else "direct"

    # -- lookup -----------------------------------------------------------------------------------

    def workspace(self, name: object) -> Workspace:
        workspaces.validate_name(name)  # before anything is touched
        self.ensure_layout()
        return workspaces.open_workspace(self.config, name)

    def load(self, name: object) -> tuple[Workspace, TaskMeta]:
        ws = self.workspace(name)
        return ws, ws.read_meta()

    def names(self) -> list[str]:
        self.ensure_layout()
        return workspaces.task_names(self.config)

    def arm_reaper(self, ws: Workspace) -> list[str]:
        """The command tmux runs when the agent of ``ws`` dies (:mod:`ctask_ls.core.reaper`), with its settings left."""
        write_private(ws.reaper_settings, json.dumps(configs.snapshot(self.config)).encode())
        return [sys.executable, "-I", "-m", "ctask_ls.core.reaper", ws.dir]

    def ensure_layout(self) -> None:
        """Move a schema-1 home to schema 2 once per home and process (see migrate.py)."""
        tasks_dir = self.config.tasks_dir
        if tasks_dir in self._laid_out:
            return
        with self._layout_lock:
            if tasks_dir not in self._laid_out:
                migrate.ensure(tasks_dir, stale_after=self.config.stale_after, say=self.say)
                if workspaces.layout_marked(tasks_dir):
                    self._laid_out.add(tasks_dir)

    def inspect(self, ws: Workspace) -> LeaseInfo:
        return leases.inspect_lease(ws, stale_after=self.config.stale_after, host=self.host)

    def inspect_shown(self, ws: Workspace) -> LeaseInfo:
        """:meth:`inspect` for display: the lease is parsed again only when its file changed."""
        return leases.inspect_lease(ws, stale_after=self.config.stale_after, host=self.host, reads=self.lease_reads)

    def profile_of(self, meta: TaskMeta, agent: ResolvedAgent) -> Profile:
        """The profile of a launch of ``agent`` for the task of ``meta`` (:func:`.profiles.choose`)."""
        if agent.label == "shell":  # `ctask open`: the user's shell, whatever the task's agent
            return profiles.choose(self.config.profiles, agent.path, profiles.GENERIC)
        named = meta.extra.get("profile") or self.config.profile
        if named is not None and not isinstance(named, str):
            raise InvalidArgument(f"task {meta.name}: profile in task.yaml must be a profile name; fix the file")
        return profiles.choose(self.config.profiles, agent.spec.command, named)

    def lease_stamp(self, ws: Workspace, key: FileKey | None) -> FileKey | str | None:
        """The lease file's ``key`` (its :func:`~.lease.file_identity`), or ``"own"`` while it is the lease
        this process's heartbeat wrote last.

        Something to compare between two looks: our own heartbeats, which only
        move ``heartbeat_at``, do not change it.
        """
        return "own" if key is not None and key == self.heartbeats.written_key(ws) else key

    def panes(self) -> dict[str, PaneState]:
        """One look at every tmux session (none when tmux is not installed)."""
        return self.tmux.panes() if self.tmux.available() else {}

    def pane(self, ws: Workspace) -> PaneState | None:
        """The task's tmux session, if any (None when tmux is not installed)."""
        return self.tmux.pane(ws.tmux_session) if self.tmux.available() else None

    # -- manifests --------------------------------------------------------------------------------

    def capture(self, ws: Workspace, sid: str | None) -> manifests.Manifest:
        """Capture the workspace's manifest, reporting progress through ``self.progress``."""
        hook = self.progress
        report = None
        if hook is not None:
            hook(ws, "begin", 0)
            report = lambda n: hook(ws, "report", n)  # noqa: E731
        try:
            m = manifests.capture(ws.tree, self.config.ignore, progress=report)
        finally:
            if hook is not None:
                hook(ws, "end", 0)
        m.session_id = sid
        m.captured_at = timeutil.now_str()
        for problem in m.errors:
            self.say(f"warning: task {ws.name}: could not read {problem}")
        return m

    def write_baseline(self, ws: Workspace, sid: str) -> manifests.Manifest:
        """Capture the session's start manifest and write it, under the write lock (launch and adoption)."""
        baseline = self.capture(ws, sid)
        with require_lock(ws.lock_path, self.config.lock_timeout, what="write the start manifest"):
            atomic_write(ws.manifest_start, baseline.to_json())
        return baseline

    def release_lease(self, ws: Workspace, session_id: str | None, *, reason: str, log: bool = True) -> bool:
        """:func:`lease.release` with this context's staleness rule; the caller holds the write lock."""
        return leases.release(
            ws, session_id, reason=reason, stale_after=self.config.stale_after, host=self.host, log=log
        )
