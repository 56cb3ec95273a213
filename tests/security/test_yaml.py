"""Issue 14, "a YAML alias bomb in task.yaml": metadata with anchors or aliases is corrupt, never expanded (SPEC 3.1).

A few hundred bytes of nested aliases stand for hundreds of millions of
values; ctask reads such a file as corrupt at once, in bounded memory, and
still lists every other task.  The real ``ctask`` in a child process with a
memory limit.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest

from tests.helpers import Env

pytestmark = pytest.mark.timeout(120)

MEMORY_LIMIT = 300 << 20


def billion_laughs(levels: int = 9) -> str:
    """``a`` is 9 strings, ``b`` 9 ``a``s, ... : 9**levels strings in a few hundred bytes."""
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, name in zip("abcdefghi", "bcdefghij"[: levels - 1], strict=False):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def test_alias_bomb_task_yaml_is_reported_corrupt_promptly_and_others_are_listed(env: Env) -> None:
    env.bare_task("good1")
    env.bare_task("bomb")
    env.bare_task("good2")
    bomb = billion_laughs()
    assert len(bomb) < 700
    (env.task_dir("bomb") / "task.yaml").write_text("schema: 1\nname: bomb\n" + bomb)
    proc = subprocess.run(
        [sys.executable, "-m", "ctask_ls.cli", "list", "--json"],
        env=env.vars,
        cwd=env.root,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
        preexec_fn=_limit_memory,
        check=False,
    )
    path = env.task_dir("bomb") / "task.yaml"
    assert proc.returncode == 1, proc.stderr  # list exits 1 when a task is corrupt
    assert proc.stderr.splitlines() == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith(f"ctask: error: {path} is corrupt (uses the YAML anchor or alias"), proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert set(rows) == {"good1", "bomb", "good2"}, rows
    assert "anchor or alias" in rows["bomb"]["error"], rows["bomb"]
    assert "error" not in rows["good1"] and "error" not in rows["good2"], rows
