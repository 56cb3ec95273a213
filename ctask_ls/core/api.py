"""The session core's facade: the one module the front doors (CLI, server, demo) import from the core.

:class:`Core` is configured once per front door and offers every command
of SPEC 3.5-3.9 as a method: each is a lifecycle step's function
(:mod:`.new`, :mod:`.launch`, :mod:`.resume`, :mod:`.adopt`,
:mod:`.reconcile`, :mod:`.stop`, :mod:`.queries`, :mod:`.remove`,
:mod:`.repair`).  The types, errors and few helpers a front door needs are
re-exported here, so no front door reaches below this module (an
import-linter contract in ``pyproject.toml`` checks it).

Invariants the core keeps (see the README's guarantees):

* a lease is written only under the write lock, after re-reading it there
  (:func:`.lease.try_acquire_or_renew`), so of any number of concurrent
  adopters on one host exactly one wins;
* every session that had a start manifest gets exactly one session-log
  record (:func:`.finalize.record`): the log is checked for the session id
  before appending, and the start manifest is removed last, so a crash
  anywhere in finalize is completed by the next reconcile;
* a session's identity (``session_id`` in summaries and the log) is fixed at
  launch: it is stored in the start manifest and tagged on the tmux session.
"""

from __future__ import annotations

from ctask_ls.core import adopt as adoption
from ctask_ls.core import launch as launching
from ctask_ls.core import new as creating
from ctask_ls.core import queries
from ctask_ls.core import reconcile as reconciling
from ctask_ls.core import remove as removing
from ctask_ls.core import repair as repairing
from ctask_ls.core import resume as resuming
from ctask_ls.core import review as reviewing
from ctask_ls.core import stop as stopping
from ctask_ls.core.activity import EXITED, IDLE, NEEDS_INPUT, WORKING, Activity, record_key, turn_ended
from ctask_ls.core.agent import AgentSpec, ResolvedAgent
from ctask_ls.core.checkpoint import Checkpoint, TreeChanged
from ctask_ls.core.config import LOCAL_HOST, Config, Host, apply_settings, default_home, defaults, load_config
from ctask_ls.core.context import Confirm, Context, FaultHook, ProgressHook, Say
from ctask_ls.core.errors import (
    AdoptionDeclined,
    AgentNotFound,
    ConfigError,
    CorruptMetadata,
    CtaskError,
    GitError,
    GitNotFound,
    InvalidArgument,
    InvalidName,
    LaunchFailed,
    LockTimeout,
    NoSession,
    TaskBusy,
    TaskExists,
    TaskNotFound,
    TmuxError,
    TmuxNotFound,
)
from ctask_ls.core.finalize import EndReason, EndState
from ctask_ls.core.lease import FRESH_LOCAL, FRESH_REMOTE, MISSING, STALE, Lease, LeaseInfo, classify, file_identity
from ctask_ls.core.manifest import Diff
from ctask_ls.core.new import AroundLaunch, NewTask
from ctask_ls.core.owned import OwnedSession
from ctask_ls.core.queries import TaskStatus
from ctask_ls.core.records import read_summary
from ctask_ls.core.resume import Outcome, OutcomeKind
from ctask_ls.core.stop import StopResult
from ctask_ls.core.storage import FileKey
from ctask_ls.core.text import terminal_safe
from ctask_ls.core.timeutil import rfc3339
from ctask_ls.core.tmux import PaneState
from ctask_ls.core.workspace import TaskMeta, Workspace, validate_name

__all__ = [
    "EXITED",
    "FRESH_LOCAL",
    "FRESH_REMOTE",
    "IDLE",
    "LOCAL_HOST",
    "MISSING",
    "NEEDS_INPUT",
    "STALE",
    "WORKING",
    "Activity",
    "AdoptionDeclined",
    "AgentNotFound",
    "AgentSpec",
    "AroundLaunch",
    "Checkpoint",
    "Config",
    "ConfigError",
    "Confirm",
    "Core",
    "CorruptMetadata",
    "CtaskError",
    "Diff",
    "EndReason",
    "EndState",
    "FaultHook",
    "FileKey",
    "GitError",
    "GitNotFound",
    "Host",
    "InvalidArgument",
    "InvalidName",
    "LaunchFailed",
    "Lease",
    "LeaseInfo",
    "LockTimeout",
    "NewTask",
    "NoSession",
    "Outcome",
    "OutcomeKind",
    "OwnedSession",
    "PaneState",
    "ProgressHook",
    "ResolvedAgent",
    "Say",
    "StopResult",
    "TaskBusy",
    "TaskExists",
    "TaskMeta",
    "TaskNotFound",
    "TaskStatus",
    "TmuxError",
    "TmuxNotFound",
    "TreeChanged",
    "Workspace",
    "apply_settings",
    "classify",
    "default_home",
    "defaults",
    "file_identity",
    "load_config",
    "read_summary",
    "record_key",
    "rfc3339",
    "terminal_safe",
    "turn_ended",
    "validate_name",
]


class Core(Context):
    """The session core as a front door sees it: a :class:`Context` whose methods are the lifecycle steps.

    Each method is the step's own function (its first parameter is this
    context), so what a front door calls is exactly what the step's module
    defines and documents.
    """

    # -- what the front doors show ----------------------------------------------------------------
    status = queries.status
    activity = queries.activity
    list_tasks = queries.list_tasks
    last_task = queries.last_task
    diff = queries.diff
    log = queries.log
    launch_result = queries.launch_result
    terminal_spec = queries.terminal_spec

    # -- starting sessions: SPEC 3.5-3.7 ----------------------------------------------------------
    create = creating.create
    new = creating.new
    resume = resuming.resume
    launch = launching.launch
    adopt = adoption.adopt

    # -- review: SPEC 3.13 ------------------------------------------------------------------------
    checkpoint = reviewing.checkpoint
    checkpoints = reviewing.listing
    patch = reviewing.patch
    file_at = reviewing.file_at
    file_now = reviewing.file_now
    revert = reviewing.revert

    # -- ending sessions and tasks: SPEC 3.8-3.9 --------------------------------------------------
    reconcile = reconciling.reconcile
    stop = stopping.stop
    remove = removing.remove
    repair = repairing.repair
