"""Moving a schema-1 home to schema 2: control files out of the agent's tree, crash-safely.

Schema 1 kept a task's control files inside the tree its agent worked in
(``tasks/NAME/task.yaml`` and ``tasks/NAME/.ctask/``), where an agent could
rewrite them.  Schema 2 (SPEC 2) keeps them in the control directory
``tasks/NAME/`` and gives the agent ``tasks/NAME/work/``.  A task moves in
renames, each of which either happened or not:

1. ``tasks/NAME`` is renamed to ``tasks/.NAME.schema1`` (not a task name, so
   nothing lists it half-moved);
2. a new ``tasks/NAME`` (0700) is made, holding the mark ``migrating``;
3. ``tasks/.NAME.schema1`` becomes ``tasks/NAME/work``: the agent's files
   keep their inodes, so a running agent, whose working directory is that
   directory, goes on where it was;
4. each regular file of ``work/.ctask/`` moves up into ``tasks/NAME/``;
   ``work/task.yaml`` moves to ``tasks/NAME/task.yaml.schema1`` and is
   rewritten as ``task.yaml`` (schema 2, the worktree's new path);
5. a repo task's worktree is re-registered (``git worktree repair``), and
   the mark goes.

A crash anywhere leaves a state the next run recognises by names that only
ctask writes (``.NAME.schema1`` in ``tasks/``, the ``migrating`` mark in the
control directory), and it carries on from there.  Nothing found in the
agent's tree is ever taken as a sign of a migration, so an agent cannot
start one.  Manifests keep their relative paths, so a session that ran
across the move is recorded with its whole diff.

A task whose lease is held by a live owner (an older ctask still running) is
left alone with a warning: that owner records its session in the old place,
and the next run moves the task once it let go.  When every task has moved,
``tasks/.schema`` says ``2`` and later runs check only that file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import typing as t
from pathlib import Path

from ctask_ls.core import git as gitrepo
from ctask_ls.core import lease as leases
from ctask_ls.core.errors import CorruptMetadata, CtaskError
from ctask_ls.core.storage import (
    DIR_MODE,
    FILE_MODE,
    atomic_write,
    dump_yaml,
    parse_yaml_mapping,
    read_text_limited,
    write_lock,
)
from ctask_ls.core.workspace import NAME_RE, TREE, layout_marked, mark_layout

OLD = ".{name}.schema1"
MARK = "migrating"
OLD_YAML = "task.yaml.schema1"


def ensure(tasks_dir: Path, *, stale_after: float, say: t.Callable[[str], None]) -> None:
    """Bring every task under ``tasks_dir`` to schema 2 (a no-op once ``tasks/.schema`` says so)."""
    if layout_marked(tasks_dir) or not tasks_dir.is_dir():
        return
    with write_lock(tasks_dir / ".migrate.lock", 60.0) as held:
        if not held or layout_marked(tasks_dir):
            return
        pending = 0
        for entry in sorted(os.scandir(tasks_dir), key=lambda e: e.name):
            if not entry.is_dir(follow_symlinks=False):
                continue
            try:
                done = _task(tasks_dir, entry.name, stale_after=stale_after, say=say)
            except (OSError, CtaskError) as exc:
                say(f"warning: could not move task {entry.name} to the new layout: {exc}; it is tried again next time")
                done = False
            pending += not done
        if not pending:
            with contextlib.suppress(OSError):
                tasks_dir.chmod(DIR_MODE)
            mark_layout(tasks_dir)


def _task(tasks_dir: Path, entry: str, *, stale_after: float, say: t.Callable[[str], None]) -> bool:
    """Migrate, or finish migrating, what ``entry`` in ``tasks/`` is; False when it must wait."""
    if entry.startswith(".") and entry.endswith(".schema1"):
        name = entry[1 : -len(".schema1")]
        if not NAME_RE.fullmatch(name):
            return True  # not ours
        control = tasks_dir / name
        if not control.is_dir():
            control.mkdir(mode=DIR_MODE)
        _mark(control)
        _adopt_tree(tasks_dir / entry, control)
        _finish(control, say)
        return True
    if not NAME_RE.fullmatch(entry):
        return True
    control = tasks_dir / entry
    if _is_regular(control / MARK):
        if (tasks_dir / OLD.format(name=entry)).is_dir():
            _adopt_tree(tasks_dir / OLD.format(name=entry), control)
        _finish(control, say)
        return True
    old_meta = control / ".ctask"
    if not stat.S_ISDIR(_lmode(old_meta)):
        return True  # schema 2 already (or not a task at all)
    with write_lock(old_meta / "write.lock", 5.0) as held:  # what a schema-1 ctask writes under
        if not held:
            say(f"warning: task {entry} is busy; it moves to the new layout next time")
            return False
        owner = _live_owner(old_meta / "lease.yaml", stale_after)
        if owner is not None:
            say(
                f"warning: task {entry} is owned by {owner} (an older ctask); "
                "it moves to the new layout once that session ends"
            )
            return False
        old = tasks_dir / OLD.format(name=entry)
        control.rename(old)
        control.mkdir(mode=DIR_MODE)
        _mark(control)
        _adopt_tree(old, control)
    _finish(control, say)
    return True


def _mark(control: Path) -> None:
    fd = os.open(control / MARK, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    os.close(fd)


def _adopt_tree(old: Path, control: Path) -> None:
    old.rename(control / TREE)


def _finish(control: Path, say: t.Callable[[str], None]) -> None:
    """Steps 4 and 5: control files up out of the tree, task.yaml rewritten, the worktree repaired."""
    tree = control / TREE
    old_meta = tree / ".ctask"
    if stat.S_ISDIR(_lmode(old_meta)):
        for item in sorted(os.listdir(old_meta)):
            src = old_meta / item
            if not stat.S_ISREG(_lmode(src)):
                continue  # a link or a FIFO there is not a control file: it stays in the tree
            dst = control / item
            if os.path.lexists(dst):
                dst = control / f"{item}.schema1"
            src.rename(dst)
            with contextlib.suppress(OSError):
                dst.chmod(FILE_MODE, follow_symlinks=False)
        with contextlib.suppress(OSError):
            old_meta.rmdir()
    if stat.S_ISREG(_lmode(tree / "task.yaml")) and not os.path.lexists(control / OLD_YAML):
        if os.path.lexists(control / "task.yaml"):
            pass  # written by an earlier run: the tree's task.yaml is the agent's own file now
        else:
            (tree / "task.yaml").rename(control / OLD_YAML)
    repo: t.Mapping[str, t.Any] | None = None
    if _is_regular(control / OLD_YAML):
        repo = _rewrite_meta(control, say)
    with contextlib.suppress(OSError):
        control.chmod(DIR_MODE)
    if repo is not None:
        with contextlib.suppress(CtaskError):
            gitrepo.run(str(repo["path"]), "worktree", "repair", str(repo["worktree"]), check=False)
    with contextlib.suppress(FileNotFoundError):
        (control / MARK).unlink()


def _rewrite_meta(control: Path, say: t.Callable[[str], None]) -> t.Mapping[str, t.Any] | None:
    """``task.yaml.schema1`` becomes ``task.yaml`` (schema 2); a corrupt one is kept as it was."""
    old = control / OLD_YAML
    target = control / "task.yaml"
    try:
        data = parse_yaml_mapping(read_text_limited(old), target)
    except CorruptMetadata as exc:
        say(f"warning: {exc}; it is kept as it was")
        old.rename(target)
        return None
    data["schema"] = 2
    repo = data.get("repo")
    if isinstance(repo, dict) and isinstance(repo.get("worktree"), str):
        worktree = Path(repo["worktree"])
        if worktree.parent == control:
            repo["worktree"] = str(control / TREE / worktree.name)
        else:
            repo = None
    else:
        repo = None
    atomic_write(target, dump_yaml(data))
    old.unlink()
    return repo


def _live_owner(path: Path, stale_after: float) -> str | None:
    """Who holds the schema-1 lease at ``path``, if its owner is alive and its heartbeat fresh."""
    try:
        lease = leases.parse_lease(read_text_limited(path), path)
    except (OSError, CtaskError):
        return None
    info = leases.classify(lease, stale_after=stale_after, host=leases.hostname())
    if not info.fresh:
        return None
    return f"{lease.host} pid {lease.pid}"


def _lmode(path: Path) -> int:
    try:
        return os.lstat(path).st_mode
    except OSError:
        return 0


def _is_regular(path: Path) -> bool:
    return stat.S_ISREG(_lmode(path))
