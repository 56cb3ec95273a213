"""``repair``: move a task's corrupt metadata aside and write a fresh ``task.yaml``.

It sits above the workspace, the lease and the records because it reads
all three; ``workspace.py`` importing the lease and the records for it was
an import cycle.
"""

from __future__ import annotations

import typing as t

from ctask_ls.core import timeutil
from ctask_ls.core.errors import CorruptMetadata, TaskNotFound
from ctask_ls.core.lease import read_lease
from ctask_ls.core.records import read_summary
from ctask_ls.core.storage import keep_aside, require_lock
from ctask_ls.core.workspace import TaskMeta

if t.TYPE_CHECKING:
    from ctask_ls.core.context import Context


def repair(ctx: Context, name: object) -> list[str]:
    """Move corrupt metadata aside (``*.corrupt-<time>``) and write fresh task.yaml.

    Returns what was moved.  Only corrupt files are touched.
    """
    config = ctx.config
    ws = ctx.workspace(name)
    if not ws.root.is_dir():
        raise TaskNotFound(f"task '{ws.name}' does not exist", name=ws.name)
    moved: list[str] = []
    stamp = timeutil.now().strftime("%Y%m%dT%H%M%SZ")
    ws.tree.mkdir(exist_ok=True)
    with require_lock(ws.lock_path, config.lock_timeout, what="repair the task"):
        try:
            ws.read_meta()
        except CorruptMetadata:
            aside = keep_aside(ws.task_yaml, stamp)
            moved.append(str(aside))
        except TaskNotFound:
            pass
        if not ws.task_yaml.exists():
            now = timeutil.now()
            ws.write_meta(TaskMeta(name=ws.name, created_at=now, updated_at=now, agent=config.agent))
        try:
            read_lease(ws)
        except CorruptMetadata:
            aside = keep_aside(ws.lease_path, stamp)
            moved.append(str(aside))
        except FileNotFoundError:
            pass
        try:
            read_summary(ws)
        except CorruptMetadata:
            aside = keep_aside(ws.summary_path, stamp)
            moved.append(str(aside))
    return moved
