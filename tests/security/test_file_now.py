"""Reading a file of the agent's tree as it is now (``ctask.fileAt`` with ``current``, SPEC 3.13, 9, 10) never
reads outside the tree, whatever the agent planted in it.

An editor on another machine shows the right side of a diff from this read,
so it is a way for text to leave the host: a symbolic link the agent put in
its tree (to a file of the user's, in ``~``), or a directory it replaced by
one, must not make ctask read through it; nor may a FIFO hang it, nor a huge
file fill the editor.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing as t

import pytest

from ctask_ls.core import checkpoint as checkpoints
from ctask_ls.core.api import Core, InvalidArgument, load_config
from tests.test_checkpoints import Session

if t.TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers import Env

SECRET = "the user's private key\n"


@pytest.fixture
def task(env: Env) -> tuple[Core, Path, Path]:
    """(a core, task t1's tree with one file in it, a file of the user's in HOME that the agent knows about)."""
    secret = env.home / "secret.txt"
    secret.write_text(SECRET)
    s = Session(env, "t1")
    (s.tree / "a.txt").write_text("now\n")
    s.end()
    return Core(load_config(env.vars), say=lambda _line: None), s.tree, secret


def test_the_file_now_is_read(task: tuple[Core, Path, Path]) -> None:
    core, tree, _secret = task
    assert core.file_now("t1", "a.txt") == "now\n"
    assert core.file_now("t1", str(tree / "a.txt")) == "now\n"  # absolute inside the tree


def test_a_link_planted_in_the_tree_is_not_read_through(task: tuple[Core, Path, Path]) -> None:
    core, tree, secret = task
    (tree / "key.txt").symlink_to(secret)
    # Its target's name, as a checkpoint keeps a link (and git shows it), never the user's file.
    assert core.file_now("t1", "key.txt") == str(secret)
    (tree / "home").symlink_to(secret.parent)
    with pytest.raises(InvalidArgument, match="home on its way is a symbolic link"):
        core.file_now("t1", "home/secret.txt")
    (tree / "sub").mkdir()
    (tree / "sub" / "deeper").symlink_to(secret.parent)
    with pytest.raises(InvalidArgument, match="deeper on its way is a symbolic link"):
        core.file_now("t1", "sub/deeper/secret.txt")


def test_paths_leaving_the_tree_are_refused(task: tuple[Core, Path, Path]) -> None:
    core, _tree, secret = task
    for path in ("../../secret.txt", str(secret), "sub/../../x"):
        with pytest.raises(InvalidArgument, match="is not a path inside task t1's tree"):
            core.file_now("t1", path)


def test_a_link_swapped_in_after_the_check_is_not_followed(
    task: tuple[Core, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent replaces the file by a link between ctask's look at it and its open: O_NOFOLLOW refuses it."""
    core, tree, secret = task
    regular = checkpoints._regular
    swapped: list[str] = []

    def then_swap(path: str, st: os.stat_result, max_bytes: int) -> None:
        regular(path, st, max_bytes)
        if not swapped:
            swapped.append(path)
            (tree / "a.txt").unlink()
            (tree / "a.txt").symlink_to(secret)

    monkeypatch.setattr(checkpoints, "_regular", then_swap)
    with pytest.raises(InvalidArgument, match=r"cannot read a\.txt: Too many levels of symbolic links"):
        core.file_now("t1", "a.txt")
    assert swapped == ["a.txt"]


def test_special_binary_oversized_and_missing_files_are_refused(task: tuple[Core, Path, Path]) -> None:
    core, tree, _secret = task
    os.mkfifo(tree / "fifo")  # opening it to read would wait for a writer forever
    (tree / "bin.dat").write_bytes(b"\0\1\2")
    (tree / "big.txt").write_text("x" * 100)
    (tree / "dir").mkdir()
    for path, said in [
        ("fifo", "fifo is a special file"),
        ("bin.dat", "bin.dat of task t1 is a binary file (3 bytes)"),
        ("dir", "dir is a directory"),
        ("gone.txt", "task t1 has no file gone.txt now"),
        ("a.txt/x", "cannot read a.txt/x: a.txt on its way is not a directory"),
    ]:
        with pytest.raises(InvalidArgument, match=re.escape(said)):
            core.file_now("t1", path)
    small = Core(dataclasses.replace(core.config, snapshot_max_file=99), say=lambda _line: None)
    with pytest.raises(InvalidArgument, match=r"big.txt is over snapshot_max_file \(100 bytes\)"):
        small.file_now("t1", "big.txt")
    assert small.file_now("t1", "a.txt") == "now\n"
