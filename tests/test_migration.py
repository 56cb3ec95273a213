"""Schema-1 homes move to schema 2 on first use, crash-safely, with nothing lost (SPEC 2, issue 14).

A schema-1 task kept ``task.yaml`` and ``.ctask/`` inside the agent's tree.
These tests build such homes byte for byte as the old ctask left them, and
check what the user sees afterwards: the same tasks, records and diffs, a
running agent that goes on and is recorded with its whole diff.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest
import yaml

from ctask_ls.core import migrate
from tests.helpers import Env, retry_until

pytestmark = pytest.mark.timeout(120)

STAMP = "2026-11-01T10:00:00Z"


def _schema1_task(tasks: Path, name: str, *, agent: list[str], files: dict[str, str]) -> Path:
    """A finished schema-1 task: its files, task.yaml and .ctask/ with one session record."""
    root = tasks / name
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    meta = root / ".ctask"
    meta.mkdir(parents=True)
    (root / "task.yaml").write_text(
        yaml.safe_dump(
            {
                "schema": 1,
                "name": name,
                "created_at": STAMP,
                "updated_at": STAMP,
                "agent": {"command": agent[0], "args": agent[1:], "env": {"KEEP": "1"}},
                "mode": "persistent",
                "provisional": False,
                "custom": "kept",
            },
            sort_keys=False,
        )
    )
    record = {"session_id": f"h-1-{name}", "ended_at": STAMP, "end_reason": "exited", "added": sorted(files)}
    (meta / "sessions.jsonl").write_text(json.dumps(record) + "\n")
    (meta / "events.jsonl").write_text(json.dumps({"at": STAMP, "event": "finalized"}) + "\n")
    (meta / "summary.yaml").write_text(yaml.safe_dump(record))
    (meta / "write.lock").write_text("")
    return root


def _layout(tasks: Path) -> dict[str, str]:
    """Every path under ``tasks`` (but lock files) with its contents."""
    out = {}
    for path in sorted(tasks.rglob("*")):
        rel = str(path.relative_to(tasks))
        if path.is_file() and not path.name.endswith(".lock"):
            out[rel] = path.read_text()
        elif path.is_dir():
            out[rel] = "<dir>"
    return out


class Crash(BaseException):
    """A power cut in the middle of the migration: nothing after it runs."""


def test_a_migration_interrupted_at_any_step_finishes_on_the_next_run_with_nothing_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fresh(where: Path) -> Path:
        tasks = where / "tasks"
        _schema1_task(tasks, "t1", agent=["sh"], files={"a.txt": "a", "work/own.txt": "the agent's own work/ dir"})
        _schema1_task(tasks, "t2", agent=["sh"], files={"task.yaml.schema1": "an agent's file", "b/c.txt": "c"})
        return tasks

    expected_tasks = fresh(tmp_path / "reference")
    migrate.ensure(expected_tasks, stale_after=30, say=lambda _m: None)
    expected = _layout(expected_tasks)
    assert expected["t1/work/a.txt"] == "a" and expected["t1/work/work/own.txt"] == "the agent's own work/ dir"
    assert expected["t2/work/task.yaml.schema1"] == "an agent's file"
    assert yaml.safe_load(expected["t1/task.yaml"])["schema"] == 2
    assert yaml.safe_load(expected["t1/task.yaml"])["custom"] == "kept"
    assert expected["t1/sessions.jsonl"].startswith('{"session_id": "h-1-t1"')
    assert not any("/.ctask" in path for path in expected), "no control file left in a tree"

    steps = 0
    originals: dict[str, t.Callable[..., t.Any]] = {}

    def counting(name: str) -> t.Callable[..., t.Any]:
        def step(*args: t.Any, **kwargs: t.Any) -> t.Any:
            nonlocal steps
            steps += 1
            if steps == crash_at:
                raise Crash
            return originals[name](*args, **kwargs)

        return step

    for name in ("rename", "unlink", "mkdir", "rmdir"):
        originals[name] = getattr(pathlib.Path, name)
    originals["atomic_write"] = migrate.atomic_write  # type: ignore[attr-defined]
    crash_at = 0
    for crash_at in range(1, 200):
        steps = 0
        tasks = fresh(tmp_path / f"crash{crash_at}")
        with monkeypatch.context() as patch:
            for name in ("rename", "unlink", "mkdir", "rmdir"):
                patch.setattr(pathlib.Path, name, counting(name))
            patch.setattr(migrate, "atomic_write", counting("atomic_write"))
            try:
                migrate.ensure(tasks, stale_after=30, say=lambda _m: None)
            except Crash:
                pass
            else:
                break  # fewer steps than crash_at: every step has had its crash
        migrate.ensure(tasks, stale_after=30, say=lambda _m: None)
        assert _layout(tasks) == expected, f"crash at step {crash_at}"
    assert crash_at > 10, "the crash points were not reached"


def test_a_schema1_home_with_a_running_session_is_migrated_and_the_session_recorded_whole(
    env: Env, agent: list[str]
) -> None:
    tasks = env.ctask_home / "tasks"
    root = _schema1_task(tasks, "t1", agent=agent, files={"a.txt": "before", "old.txt": "old"})
    (root / ".ctask" / "sessions.jsonl").unlink()
    (root / ".ctask" / "summary.yaml").unlink()
    # The running session as the old ctask left it: baseline, launched mark, tmux session, a dead owner's lease.
    dead = subprocess.Popen(["true"])
    dead.wait()
    started = int(time.time())
    sid = f"{socket.gethostname()}-{dead.pid}-{started}"
    _write_baseline(root, sid)
    (root / ".ctask" / "launched").write_text(sid + "\n")
    env.write_lease("t1", pid=dead.pid, session_id=sid)
    lease_path = env.task_dir("t1") / "lease.yaml"
    lease_path.rename(root / ".ctask" / "lease.yaml")
    steps = ["write=a.txt:changed", "wait=go", "write=b.txt:new"]
    cmd = ["new-session", "-d", "-s", "ctask-t1", "-c", str(root)]  # the agent works in its cwd
    proc = env.tmux(*cmd, *agent, *steps)
    assert proc.returncode == 0, proc.stderr
    env.tmux("set-option", "-t", "ctask-t1", "@ctask_session_id", sid)
    retry_until(lambda: (root / "a.txt").read_text() == "changed")

    listing = env.run("list", "--json")
    assert listing.returncode == 0, listing.stderr
    (task,) = json.loads(listing.stdout)
    assert task["name"] == "t1"
    assert env.tmux_alive("t1"), "the migration stopped the agent"
    assert (env.task_dir("t1") / "task.yaml").is_file() and not (env.tree("t1") / "task.yaml").exists()
    assert not (env.tree("t1") / ".ctask").exists()
    assert env.task_yaml("t1")["schema"] == 2
    os.stat(env.tree("t1") / "old.txt")  # the agent's files are in its tree

    env.go("t1")  # the agent, in the directory that is now its tree, goes on
    retry_until(lambda: not env.tmux_alive("t1"), 15)
    status = env.run("status", "t1", "--json")
    assert status.returncode == 0, status.stderr
    (record,) = env.records("t1", 1)
    assert record["session_id"] == sid
    summary = env.summary("t1")
    assert summary is not None
    assert summary["added"] == ["b.txt", "go"]
    assert summary["modified"] == ["a.txt"]
    assert summary["deleted"] == []


def _write_baseline(root: Path, sid: str) -> None:
    """The start manifest the old ctask wrote: the tree without its control files."""
    code = (
        "import sys; from pathlib import Path; from ctask_ls.core import manifest;"
        "m = manifest.capture(Path(sys.argv[1]), ['.git/', 'task.yaml', '.ctask/']); m.session_id = sys.argv[2];"
        "Path(sys.argv[1], '.ctask', 'manifest.start.json').write_text(m.to_json())"
    )
    subprocess.run([sys.executable, "-c", code, str(root), sid], check=True)
