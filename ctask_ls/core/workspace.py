"""Task names, the two trees of a task, and ``task.yaml``.

A task NAME has a control directory ``<home>/tasks/NAME/`` (0700, every file
in it 0600: ``task.yaml``, ``lease.yaml``, ``write.lock``, the records) and,
inside it, the agent's tree ``work/`` (schema 2, SPEC 2).  The agent may be
sandboxed to its tree; it can write nothing ctask reads as its own state.
Names are checked before any file is touched, so no name can reach outside
``<home>/tasks``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import re
import shutil
import typing as t
from pathlib import Path

from ctask_ls.core import timeutil
from ctask_ls.core.agent import AgentSpec
from ctask_ls.core.errors import CorruptMetadata, CtaskError, InvalidArgument, InvalidName, TaskExists, TaskNotFound
from ctask_ls.core.git import RepoInfo
from ctask_ls.core.storage import (
    DIR_MODE,
    MetadataCache,
    atomic_write,
    dump_yaml,
    load_yaml_mapping,
    require_lock,
)

if t.TYPE_CHECKING:
    from ctask_ls.core.config import Config

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SCHEMA = 2
"""Of ``task.yaml``: 2 since the control files left the agent's tree (see migrate.py)."""
REAPER_SETTINGS = "reaper.json"
TREE = "work"
"""The agent's tree inside the control directory."""


def validate_name(name: object) -> str:
    """Return ``name`` if it is a valid task name, else raise InvalidName."""
    if not isinstance(name, str):
        raise InvalidName(f"task name must be a string, not {type(name).__name__}", name=repr(name))
    if NAME_RE.fullmatch(name) is None:
        shown = name if len(name) <= 40 else name[:37] + "..."
        shown = shown.encode("unicode_escape").decode("ascii")
        raise InvalidName(
            f"invalid task name '{shown}': use 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit",
            name=shown,
        )
    return name


def tmux_session_name(name: str) -> str:
    """``ctask-`` + the name with ``.`` and ``:`` replaced by ``_``."""
    return "ctask-" + name.replace(".", "_").replace(":", "_")


@dataclasses.dataclass(frozen=True)
class TaskMeta:
    """The contents of ``task.yaml``."""

    name: str
    created_at: dt.datetime
    updated_at: dt.datetime
    agent: AgentSpec
    mode: str = "persistent"
    provisional: bool = False
    description: str | None = None
    repo: RepoInfo | None = None
    """Set for a task on a git repository (``ctask new --repo``)."""
    extra: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict)
    """Unknown keys, preserved on rewrite."""

    def to_mapping(self) -> dict[str, t.Any]:
        data: dict[str, t.Any] = {
            "schema": SCHEMA,
            "name": self.name,
            "created_at": timeutil.rfc3339(self.created_at),
            "updated_at": timeutil.rfc3339(self.updated_at),
            "agent": self.agent.to_mapping(),
            "mode": self.mode,
            "provisional": self.provisional,
        }
        if self.description is not None:
            data["description"] = self.description
        if self.repo is not None:
            data["repo"] = self.repo.to_mapping()
        for key, value in self.extra.items():
            data.setdefault(key, value)
        return data

    @classmethod
    def from_mapping(cls, data: t.Mapping[str, t.Any], *, path: str | Path) -> TaskMeta:
        known = {"schema", "name", "created_at", "updated_at", "agent", "mode", "provisional", "description", "repo"}
        try:
            if data.get("schema", SCHEMA) != SCHEMA:
                raise ValueError(f"unsupported schema {data.get('schema')!r}")
            name = data.get("name")
            if not isinstance(name, str):
                raise ValueError("name must be a string")
            mode = data.get("mode", "persistent")
            if mode not in ("persistent", "direct"):
                raise ValueError("mode must be persistent or direct")
            provisional = data.get("provisional", False)
            if not isinstance(provisional, bool):
                raise ValueError("provisional must be true or false")
            description = data.get("description")
            if description is not None and not isinstance(description, str):
                raise ValueError("description must be a string")
            return cls(
                name=name,
                created_at=timeutil.parse(data.get("created_at")),
                updated_at=timeutil.parse(data.get("updated_at")),
                agent=AgentSpec.from_mapping(data.get("agent"), where="agent"),
                mode=mode,
                provisional=provisional,
                description=description,
                repo=RepoInfo.from_mapping(data["repo"]) if data.get("repo") is not None else None,
                extra={k: v for k, v in data.items() if k not in known},
            )
        except (ValueError, TypeError, CtaskError) as exc:
            raise CorruptMetadata(
                str(path),
                f"wrong contents: {exc}",
                hint=_REPAIR_HINT.format(name=Path(path).parent.name),
            ) from exc


_REPAIR_HINT = "fix it by hand, or run `ctask repair {name}` to move it aside and write a fresh one"


class Workspace:
    """Paths of one task's control directory and tree; no I/O in the constructor."""

    def __init__(self, tasks_dir: str | Path, name: object) -> None:
        self.name = validate_name(name)
        self.dir = os.path.join(tasks_dir, self.name)
        """The control directory as a string: ``list`` reads a thousand tasks, and a Path per file adds up."""
        self.tree_dir = os.path.join(self.dir, TREE)
        """The agent's tree as a string."""
        self.tmux_session = tmux_session_name(self.name)

    @functools.cached_property
    def root(self) -> Path:
        """The control directory (removing it removes the task)."""
        return Path(self.dir)

    @functools.cached_property
    def tree(self) -> Path:
        """The agent's tree: what manifests, diffs and snapshots cover; a plain task's agent starts here."""
        return Path(self.tree_dir)

    def control(self, name: str) -> str:
        """The path of the control file ``name``, as a string."""
        return f"{self.dir}/{name}"

    @functools.cached_property
    def task_yaml(self) -> Path:
        return self.root / "task.yaml"

    @functools.cached_property
    def lease_path(self) -> Path:
        return self.root / "lease.yaml"

    @functools.cached_property
    def lock_path(self) -> Path:
        return self.root / "write.lock"

    @functools.cached_property
    def manifest_start(self) -> Path:
        return self.root / "manifest.start.json"

    @functools.cached_property
    def summary_path(self) -> Path:
        return self.root / "summary.yaml"

    @functools.cached_property
    def sessions_log(self) -> Path:
        return self.root / "sessions.jsonl"

    @functools.cached_property
    def events_log(self) -> Path:
        return self.root / "events.jsonl"

    @functools.cached_property
    def stop_marker(self) -> Path:
        return self.root / "stop-requested"

    @functools.cached_property
    def launched_marker(self) -> Path:
        """Written once tmux runs the session: a start manifest without it is a launch that never started."""
        return self.root / "launched"

    @functools.cached_property
    def reaper_settings(self) -> Path:
        """The settings the pane-died hook's reaper reads (see reaper.py)."""
        return self.root / REAPER_SETTINGS

    @functools.cached_property
    def agent_settings(self) -> Path:
        """The hook settings a Claude Code launch is given (``--settings``, see wiring.py)."""
        return self.root / "claude-settings.json"

    @functools.cached_property
    def launch_env(self) -> Path:
        """The environment of the agent being started (0600), read and removed by its launcher (SPEC 3.3)."""
        return self.root / "launch.env"

    def __repr__(self) -> str:
        return f"Workspace({self.name!r})"

    def read_meta(self, cache: MetadataCache | None = None) -> TaskMeta:
        hint = _REPAIR_HINT.format(name=self.name)
        try:
            if cache is None:
                data = load_yaml_mapping(self.task_yaml, hint=hint)
            else:
                data = cache.get(self.dir + "/task.yaml", lambda p: load_yaml_mapping(p, hint=hint))
        except FileNotFoundError as exc:
            raise TaskNotFound(
                f"task '{self.name}' does not exist; create it with `ctask new {self.name}`", name=self.name
            ) from exc
        return TaskMeta.from_mapping(data, path=self.dir + "/task.yaml")

    def write_meta(self, meta: TaskMeta) -> None:
        """Write task.yaml atomically; the caller holds the write lock."""
        atomic_write(self.task_yaml, dump_yaml(meta.to_mapping()))

    def touch(self, lock_timeout: float, *, provisional: bool | None = None) -> TaskMeta:
        """Bump ``updated_at`` (and maybe clear ``provisional``) under the lock."""
        with require_lock(self.lock_path, lock_timeout, what="update task.yaml"):
            meta = self.read_meta()
            changes: dict[str, t.Any] = {"updated_at": timeutil.now()}
            if provisional is not None:
                changes["provisional"] = provisional
            meta = dataclasses.replace(meta, **changes)
            self.write_meta(meta)
            return meta


def create(
    config: Config,
    ws: Workspace,
    agent: AgentSpec,
    *,
    description: str | None = None,
    repo: RepoInfo | None = None,
) -> TaskMeta:
    """Create ``ws`` as a *provisional* workspace; refuse existing names and tmux-name twins.

    Returns the task.yaml written.  With ``repo``, task.yaml records it
    before the worktree exists, so that a ``new`` killed half-way leaves a
    record of what to clean up.
    """
    name = ws.name
    if description is not None and ("\0" in description or len(description) > 10_000):
        raise InvalidArgument("description must be text of at most 10000 characters")
    ensure_tasks_dir(config)
    for other in task_names(config):
        if other != name and tmux_session_name(other) == ws.tmux_session:
            raise TaskExists(
                f"task name '{name}' collides with task '{other}' in tmux "
                f"(both are {ws.tmux_session}); pick another name",
                name=name,
            )
    try:
        ws.root.mkdir(mode=DIR_MODE)
    except FileExistsError as exc:
        raise TaskExists(
            f"task '{name}' already exists; resume it with `ctask resume {name}` or pick another name", name=name
        ) from exc
    try:
        ws.tree.mkdir()
        now = timeutil.now()
        meta = TaskMeta(
            name=name,
            created_at=now,
            updated_at=now,
            agent=agent,
            provisional=True,
            description=description,
            repo=repo,
        )
        with require_lock(ws.lock_path, config.lock_timeout, what="create the task"):
            ws.write_meta(meta)
    except BaseException:
        shutil.rmtree(ws.root, ignore_errors=True)
        raise
    return meta


def ensure_tasks_dir(config: Config) -> None:
    """Make ``<home>/tasks`` (0700) with its layout mark, so a new home never needs migrating."""
    tasks = config.tasks_dir
    if tasks.is_dir():
        return
    tasks.parent.mkdir(parents=True, exist_ok=True)
    tasks.mkdir(mode=DIR_MODE, exist_ok=True)
    mark_layout(tasks)


LAYOUT_MARK = ".schema"
"""In ``<home>/tasks``: ``2`` once every task there has the schema 2 layout."""


def layout_marked(tasks_dir: Path) -> bool:
    try:
        return (tasks_dir / LAYOUT_MARK).read_bytes().strip() == str(SCHEMA).encode()
    except OSError:
        return False


def mark_layout(tasks_dir: Path) -> None:
    atomic_write(tasks_dir / LAYOUT_MARK, f"{SCHEMA}\n")


def task_names(config: Config) -> list[str]:
    """Names of every directory under ``<home>/tasks`` that is a valid task name."""
    try:
        entries = list(os.scandir(config.tasks_dir))
    except FileNotFoundError:
        return []
    return sorted(e.name for e in entries if NAME_RE.fullmatch(e.name) and e.is_dir(follow_symlinks=False))


def open_workspace(config: Config, name: object) -> Workspace:
    """The workspace of a valid task name; refuses a workspace that is a symlink.

    A symlink in ``<home>/tasks`` could point anywhere: ctask never follows
    it, never writes through it and never deletes what it points to.
    """
    ws = Workspace(config.tasks_dir, name)  # which validates the name
    if os.path.islink(ws.dir):
        raise CorruptMetadata(
            str(ws.root),
            "the workspace is a symbolic link, which ctask never follows",
            hint="remove the link or replace it with a real directory",
        )
    return ws
