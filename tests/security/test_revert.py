"""A revert writes only inside the agent's tree, whatever the agent does to it meanwhile (SPEC 3.13, 9).

The agent may replace a directory of its tree by a symbolic link to the
user's files (``~``, say) at any moment, including between the checkpoint a
revert takes first and the revert's own writes.  The revert must then stop
(the tree changed) rather than write or delete through the link.
"""

from __future__ import annotations

import shutil
import typing as t

import pytest

from ctask_ls.core.api import Core, CtaskError, TreeChanged, load_config
from ctask_ls.core.checkpoint import Store, _Tree, restore
from tests.test_checkpoints import Session

if t.TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers import Env


def test_a_directory_swapped_for_a_link_during_a_revert_stops_it(env: Env, tmp_path: Path) -> None:
    outside = tmp_path / "users-files"
    outside.mkdir()
    (outside / "f.txt").write_text("precious\n")
    s = Session(env, "t1")
    (s.tree / "dir").mkdir()
    (s.tree / "dir" / "f.txt").write_text("mine\n")
    (s.tree / "dir" / "added.txt").write_text("x\n")
    s.end()
    s = Session(env, "t1", "resume")
    (s.tree / "dir" / "f.txt").write_text("the agent's\n")
    s.end()

    # What `ctask revert t1` does, with the agent's swap between its checkpoint and its writes.
    core = Core(load_config(env.vars), say=lambda _line: None)
    ws, _meta = core.load("t1")
    store = Store(ws)
    seen = core.capture(ws, None)
    before = store.take(seen, source="revert", max_file=1 << 20, keep=100)
    assert before is not None
    target = store.resolve(None, session_id=before.session_id)
    shutil.rmtree(s.tree / "dir")
    (s.tree / "dir").symlink_to(outside)
    with pytest.raises(TreeChanged, match=f"ctask revert t1 --to {before.n}"):
        restore(store, target, before, seen, [])
    assert sorted(p.name for p in outside.iterdir()) == ["f.txt"]
    assert (outside / "f.txt").read_text() == "precious\n"


def test_writes_never_go_through_a_linked_directory(tmp_path: Path) -> None:
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    tree.mkdir()
    outside.mkdir()
    (tree / "dir").symlink_to(outside)
    writer = _Tree(str(tree))
    with pytest.raises(CtaskError, match="dir on its way is a symbolic link"):
        writer.write("dir/f.txt", "100644", b"x")
    with pytest.raises(CtaskError, match="dir on its way is a symbolic link"):
        writer.remove("dir/f.txt")
    assert list(outside.iterdir()) == []
    assert (tree / "dir").is_symlink()
