"""Issue 14, "deep trees": a tree of any depth is walked and removed whole (SPEC 3.4 and 9).

Paths this deep are longer than PATH_MAX: the trees are built one directory
at a time relative to an open descriptor, as an agent can.  The real ``ctask``.
Each test removes its tree with ``ctask rm``: pytest's clean-up of old
temporary directories uses ``shutil.rmtree``, which recurses.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.helpers import Env

pytestmark = pytest.mark.timeout(180)

DEEP_AGENT = """\
import os, sys, time
levels, name = int(sys.argv[1]), sys.argv[2]
fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
for _ in range(levels):
    os.mkdir("d", dir_fd=fd)
    child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = child
with open(os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as fh:
    fh.write("hidden?")
time.sleep(0.6)
"""


def deep_tree(top: Path, levels: int) -> None:
    """``top/d/d/.../d/f`` (``levels`` directories), built relative to descriptors."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir("d", dir_fd=fd)
            os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def test_file_a_thousand_levels_deep_shows_in_the_diff(env: Env, tmp_path: Path) -> None:
    script = tmp_path / "deep_agent.py"
    script.write_text(DEEP_AGENT)
    proc = env.run("new", "t1", "--agent", sys.executable, "--", str(script), "1000", "deep.txt")
    assert proc.returncode == 0, proc.stderr
    diff = env.json("diff", "t1")
    assert diff["added"] == ["d/" * 1000 + "deep.txt"], diff
    assert "not walked" not in str(diff)
    assert env.run("rm", "--force", "t1").returncode == 0  # pytest's own clean-up recurses: leave no deep tree


def test_rm_of_a_ten_thousand_level_tree_leaves_nothing(env: Env) -> None:
    env.bare_task("t1")
    deep_tree(env.task_dir("t1"), 10_000)
    proc = env.run("rm", "--force", "t1")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert env.task_names() == [] and not [p for p in os.listdir(env.ctask_home / "tasks") if ".removed-" in p], (
        "no task and no hidden .t1.removed-* tree is left"
    )
