"""Manifests and diffs (SPEC 3.4): symlinks, unreadable directories, exclusions, sorted diffs with byte totals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctask_ls.core import manifest
from tests.helpers import Env


def _files(root: Path, spec: dict[str, str]) -> None:
    for rel, text in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_symlinks_are_recorded_and_never_followed(tmp_path: Path) -> None:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    _files(outside, {"secret/a.txt": "a", "secret/b.txt": "b", "big.bin": "x" * 100_000})
    _files(ws, {"inside.txt": "hello"})
    (ws / "to_outside_dir").symlink_to(outside / "secret")
    (ws / "to_outside_file").symlink_to(outside / "big.bin")
    (ws / "to_parent").symlink_to("..")
    (ws / "relative").symlink_to("inside.txt")
    (ws / "dangling").symlink_to("no/such/file")
    (ws / "loop").symlink_to("loop")
    m = manifest.capture(ws)
    assert sorted(m.entries) == [
        "dangling",
        "inside.txt",
        "loop",
        "relative",
        "to_outside_dir",
        "to_outside_file",
        "to_parent",
    ]
    kinds = {rel: e[0] for rel, e in m.entries.items()}
    assert kinds == {
        "inside.txt": "file",
        **dict.fromkeys(("dangling", "loop", "relative", "to_outside_dir", "to_outside_file", "to_parent"), "symlink"),
    }
    assert m.entries["to_outside_dir"][4] == str(outside / "secret")
    assert m.entries["relative"][4] == "inside.txt"
    assert m.entries["to_outside_file"][1] == len(str(outside / "big.bin")), "the link's own size, not its target's"
    assert m.errors == []
    assert m.total_bytes < 1000


def test_a_session_records_a_symlink_to_outside_the_workspace_as_one_entry(env: Env, agent: list[str]) -> None:
    outside = env.root / "outside"
    _files(outside, {"x.txt": "x", "deep/y.txt": "y"})
    owner = env.spawn_new("t1", agent, "wait=go")
    (env.tree("t1") / "escape").symlink_to(outside)
    env.go("t1")
    code, out, err = env.finish(owner)
    assert code == 0, err
    summary = env.summary("t1")
    assert summary is not None
    assert summary["added"] == ["escape", "go"]
    assert "+ escape" in out
    assert (outside / "x.txt").read_text() == "x", "nothing outside the workspace is touched"
    env.records("t1", 1)


def test_ignored_paths_are_not_in_manifests_and_a_trees_own_metadata_names_are(tmp_path: Path) -> None:
    """The tree holds no control file (schema 2): files named like them are the agent's own."""
    ws = tmp_path / "ws"
    _files(
        ws,
        {
            "task.yaml": "top-level metadata",
            "lease.yaml": "x",
            ".git/HEAD": "ref",
            "sub/task.yaml": "the agent's own file",
            "sub/.ctask/x": "the agent's own file",
            "sub/.git/config": "nested repo",
            "keep.txt": "k",
        },
    )
    assert sorted(manifest.capture(ws).entries) == [
        "keep.txt",
        "lease.yaml",
        "sub/.ctask/x",
        "sub/task.yaml",
        "task.yaml",
    ]


def test_ignore_patterns_follow_gitignore_forms(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    _files(
        ws,
        {
            "a.log": "",
            "sub/b.log": "",
            "build/out.o": "",
            "sub/build/out.o": "",
            "other/build": "a file named build stays",
            "anchored.txt": "",
            "sub/anchored.txt": "",
            "docs/x.tmp": "",
            "docs/deep/y.tmp": "",
            "elsewhere/docs/x.tmp": "",
            "cache/c": "",
            "sub/cache/c": "",
            "logs/a": "",
            "logs/b/c": "",
            "a.o": "",
            "ab.o": "",
            "a.bin": "",
            "c.bin": "",
            "keep.txt": "",
        },
    )
    patterns = ["*.log", "build/", "/anchored.txt", "docs/*.tmp", "**/cache", "logs/**", "?.o", "[ab].bin", "# comment"]
    kept = sorted(manifest.capture(ws, patterns).entries)
    assert kept == [
        "ab.o",
        "c.bin",
        "docs/deep/y.tmp",
        "elsewhere/docs/x.tmp",
        "keep.txt",
        "other/build",
        "sub/anchored.txt",
    ]


def test_ignore_patterns_from_config_apply_to_sessions(env: Env, agent: list[str]) -> None:
    env.write_config({"ignore": [".git/", "*.log", "node_modules/"]})
    proc = env.new("t1", agent, "write=debug.log:x", "write=result.txt:done", "sleep=0.4")
    assert proc.returncode == 0, proc.stderr
    summary = env.summary("t1")
    assert summary is not None
    assert summary["added"] == ["result.txt"]
    assert summary["files_at_end"] == 1


def test_diff_lists_are_sorted_with_counts_and_byte_totals(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    _files(ws, {"z.txt": "12345", "a.txt": "abc", "m/keep.txt": "keep", "del.txt": "1234567", "mode.sh": "#!"})
    _files(ws, {"touch.txt": "t"})
    (ws / "link").symlink_to("a.txt")
    before = manifest.capture(ws)

    _files(ws, {"y/new.txt": "n" * 20, "b.txt": "b" * 10, "B.txt": "B"})
    (ws / "z.txt").write_text("12345678")
    st_touch = (ws / "touch.txt").stat()
    os.utime(ws / "touch.txt", ns=(st_touch.st_atime_ns, st_touch.st_mtime_ns + 10**9))
    (ws / "mode.sh").chmod(0o755)
    (ws / "link").unlink()
    (ws / "link").symlink_to("z.txt")
    (ws / "del.txt").unlink()
    after = manifest.capture(ws)

    d = manifest.diff(before, after)
    assert d.added == ["B.txt", "b.txt", "y/new.txt"]
    assert d.modified == ["link", "mode.sh", "touch.txt", "z.txt"]
    assert d.deleted == ["del.txt"]
    assert d.counts == {"added": 3, "modified": 4, "deleted": 1}
    assert d.bytes == {"added": 31, "modified": len("z.txt") + 2 + 1 + 8, "deleted": 7}
    assert manifest.diff(after, after).empty


Entries = st.dictionaries(
    st.text(alphabet="abcXY/._", min_size=1, max_size=6),
    st.tuples(st.sampled_from(["file", "symlink"]), st.integers(0, 50), st.integers(0, 3), st.integers(0, 1)),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(Entries, Entries)
def test_diff_explains_every_change_between_two_manifests(
    old: dict[str, tuple[str, int, int, int]], new: dict[str, tuple[str, int, int, int]]
) -> None:
    def m(entries: dict[str, tuple[str, int, int, int]]) -> manifest.Manifest:
        return manifest.Manifest(
            {k: (kind, size, mtime, 0o644 | mode, None) for k, (kind, size, mtime, mode) in entries.items()}
        )

    a, b = m(old), m(new)
    d = manifest.diff(a, b)
    assert d.added == sorted(d.added) and d.modified == sorted(d.modified) and d.deleted == sorted(d.deleted)
    assert set(d.added) == set(new) - set(old)
    assert set(d.deleted) == set(old) - set(new)
    assert set(d.modified) == {k for k in set(old) & set(new) if a.entries[k] != b.entries[k]}
    assert d.counts == {"added": len(d.added), "modified": len(d.modified), "deleted": len(d.deleted)}
    assert d.added_bytes == sum(b.entries[k][1] for k in d.added)
    assert d.modified_bytes == sum(b.entries[k][1] for k in d.modified)
    assert d.deleted_bytes == sum(a.entries[k][1] for k in d.deleted)


def test_session_summary_and_diff_command_report_added_modified_deleted(env: Env, agent: list[str]) -> None:
    owner = env.spawn("new", "t1", "--agent", agent[0], "--", agent[1], "wait=go", "write=late.txt:0123456789")
    ws = env.tree("t1")
    # Files that exist before the session starts form its baseline: create the task first.
    env.wait_owned("t1", owner)
    live = env.json("diff", "t1")
    assert live["live"] is True
    assert live["added"] == [] and live["modified"] == [] and live["deleted"] == []
    (ws / "early.txt").write_text("abc")
    live = env.json("diff", "t1")
    assert live["live"] is True
    assert live["added"] == ["early.txt"]
    assert live["bytes"]["added"] == 3
    env.go("t1")
    code, out, err = env.finish(owner)
    assert code == 0, err
    assert "  added 3, modified 0, deleted 0" in out
    summary = env.summary("t1")
    assert summary is not None
    assert summary["added"] == ["early.txt", "go", "late.txt"]
    assert summary["counts"] == {"added": 3, "modified": 0, "deleted": 0}
    assert summary["bytes"] == {"added": 13, "modified": 0, "deleted": 0}
    assert summary["files_at_end"] == 3
    assert summary["bytes_at_end"] == 13

    # A second session modifies and deletes.
    (ws / "go").unlink()
    resumed = env.spawn("resume", "t1")
    env.wait_owned("t1", resumed)
    (ws / "early.txt").write_text("abcdef")
    (ws / "go").write_text("")
    code, out, err = env.finish(resumed)
    assert code == 0, err
    summary = env.summary("t1")
    assert summary is not None
    assert summary["added"] == ["go"]
    assert summary["modified"] == ["early.txt", "late.txt"]
    assert summary["deleted"] == []
    assert summary["bytes"] == {"added": 0, "modified": 16, "deleted": 0}
    after = env.json("diff", "t1")
    assert after["live"] is False
    assert after["modified"] == summary["modified"]
    assert after["counts"] == summary["counts"]
    proc = env.run("diff", "t1")
    assert proc.stdout.startswith("changes of task t1 in the last session:\n")
    assert "  ~ early.txt" in proc.stdout
    env.records("t1", 2)


def _no_root_powers(probe_dir: Path) -> list[str]:
    """A command prefix under which a mode-000 directory is unreadable, even for root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: root reads every directory, so none can be unreadable")
    prefix = [
        setpriv,
        "--bounding-set=-dac_override,-dac_read_search",
        "--inh-caps=-dac_override,-dac_read_search",
    ]
    probe = subprocess.run([*prefix, "ls", str(probe_dir)], capture_output=True, check=False)
    if probe.returncode == 0:
        pytest.skip("root keeps CAP_DAC_OVERRIDE here (setpriv could not drop it): no directory is unreadable")
    return prefix


def test_unreadable_directory_is_reported_and_skipped_not_fatal(env: Env, agent: list[str]) -> None:
    env.new_detached("t1", agent, "wait=go")
    ws = env.tree("t1")
    _files(ws, {"secret/hidden.txt": "h", "visible.txt": "v"})
    (ws / "secret").chmod(0)
    try:
        prefix = _no_root_powers(ws / "secret")
        proc = env.run("diff", "t1", "--json", prefix=prefix)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["added"] == ["visible.txt"]
        assert proc.stderr == "[ctask] warning: task t1: could not read secret: Permission denied\n"

        proc = env.run("stop", "t1", "--json", prefix=prefix)
        assert proc.returncode == 0, proc.stderr
        summary = env.summary("t1")
        assert summary is not None
        assert summary["end_reason"] == "stopped"
        assert summary["added"] == ["visible.txt"]
        assert summary["unreadable"] == ["secret: Permission denied"]
    finally:
        (ws / "secret").chmod(0o755)
    env.records("t1", 1)


def test_odd_file_names_do_not_stop_a_session_being_recorded(env: Env, agent: list[str]) -> None:
    owner = env.spawn_new("t1", agent, "wait=go")
    ws = os.fsencode(env.tree("t1"))
    names = [b"bad-\xff-name.txt", "emoji-\U0001f600.txt".encode(), b"tab\tname", b"new\nline.txt"]
    for raw in names:
        with open(os.path.join(ws, raw), "wb") as fh:
            fh.write(b"x")
    env.go("t1")
    code, _out, err = env.finish(owner)
    assert "Traceback" not in err, err
    assert code == 0, err
    summary = env.summary("t1")
    assert summary is not None
    added = summary["added"]
    assert len(added) == 5, added
    assert {"emoji-\U0001f600.txt", "tab\tname", "new\nline.txt", "go"} <= set(added)
    (odd,) = [a for a in added if a.startswith("bad-")]
    assert odd.endswith("-name.txt")
    env.records("t1", 1)
    proc = env.run("status", "t1")
    assert proc.returncode == 0, proc.stderr


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet="abcd/", min_size=1, max_size=4), unique=True, max_size=40),
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 39), st.integers(0, 2)), max_size=25),
    st.sampled_from([1, 2, 3, 8]),
)
def test_diff_aligns_manifests_that_share_their_order(
    paths: list[str], edits: list[tuple[int, int, int]], block: int
) -> None:
    """The block alignment in ``diff`` gives exactly the dict-based answer, whatever was added, removed or moved."""
    old = {
        p: ("symlink" if i % 7 == 3 else "file", i % 5, i, 0o644, f"t{i}" if i % 7 == 3 else None)
        for i, p in enumerate(paths)
    }
    order = list(old)
    new = dict(old)
    for op, at, value in edits:  # delete, insert, modify, retarget, move, chmod
        if not order:
            break
        p = order[at % len(order)]
        if op == 0:
            order.remove(p)
            del new[p]
        elif op == 1 and f"n{at}{value}" not in new:
            order.insert(at % (len(order) + 1), f"n{at}{value}")
            new[f"n{at}{value}"] = ("file", value, 0, 0o644, None)
        elif op == 2:
            new[p] = (new[p][0], new[p][1] + value + 1, *new[p][2:])
        elif op == 3 and new[p][0] == "symlink":
            new[p] = (*new[p][:4], f"other{value}")
        elif op == 4:
            order.remove(p)
            order.insert(value * len(order) // 2, p)
        elif op == 5:
            new[p] = (*new[p][:3], 0o755, new[p][4])
    a = manifest.Manifest(old)
    b = manifest.Manifest({p: new[p] for p in order})
    saved = manifest._BLOCK, manifest._WINDOW, manifest._MAX_RESYNCS
    manifest._BLOCK, manifest._WINDOW, manifest._MAX_RESYNCS = block, block * 2, block * 3
    try:
        d = manifest.diff(a, b)
    finally:
        manifest._BLOCK, manifest._WINDOW, manifest._MAX_RESYNCS = saved
    assert d.added == sorted(set(new) - set(old))
    assert d.deleted == sorted(set(old) - set(new))
    assert d.modified == sorted(p for p in set(old) & set(new) if old[p] != new[p])
    assert d.added_bytes == sum(new[p][1] for p in d.added)
    assert d.modified_bytes == sum(new[p][1] for p in d.modified)
    assert d.deleted_bytes == sum(old[p][1] for p in d.deleted)
    assert manifest.diff(a, a).empty and manifest.diff(b, b).empty


def test_a_subdirectory_of_mixed_kinds_is_recorded_like_the_top(tmp_path: Path) -> None:
    """Directories of regular files take a batched path; any other kind in a directory takes the careful one."""
    ws = tmp_path / "ws"
    _files(ws, {"plain/a.txt": "a", "plain/b.txt": "bb", "mixed/f.txt": "fff", "top.txt": ""})
    (ws / "mixed" / "link").symlink_to("f.txt")
    os.mkfifo(ws / "mixed" / "pipe")
    (ws / "plain" / "a.txt").chmod(0o600)
    m = manifest.capture(ws)

    def entry(rel: str, kind: str, size: int, target: str | None = None) -> manifest.Entry:
        st_ = (ws / rel).lstat()
        return (kind, size, st_.st_mtime_ns, st_.st_mode & 0o7777, target)

    assert dict(m.entries) == {
        "top.txt": entry("top.txt", "file", 0),
        "plain/a.txt": entry("plain/a.txt", "file", 1),
        "plain/b.txt": entry("plain/b.txt", "file", 2),
        "mixed/f.txt": entry("mixed/f.txt", "file", 3),
        "mixed/link": entry("mixed/link", "symlink", 5, "f.txt"),
        "mixed/pipe": entry("mixed/pipe", "other", 0),
    }
    assert m.entries["plain/a.txt"][3] == 0o600
    assert manifest.Manifest.load(_saved(tmp_path, m)).entries == m.entries


def _saved(tmp_path: Path, m: manifest.Manifest) -> Path:
    path = tmp_path / "m.json"
    path.write_text(m.to_json())
    return path


@pytest.mark.parametrize("helper", ["works", "fails", "garbage"])
def test_a_capture_split_with_a_helper_process_is_the_same_capture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helper: str
) -> None:
    """A long walk hands half of what is left to a second process; the manifest must not tell the difference."""
    from ctask_ls.core import walk

    ws = tmp_path / "ws"
    files = {f"d{i}/sub{j}/f{k}.txt": "x" * (i + j + k) for i in range(6) for j in range(5) for k in range(3)}
    _files(ws, {**files, "top.txt": "t", "d1/skip.log": "", "d2/build/out": "", "d3/anchored.tmp": ""})
    (ws / "d4" / "link").symlink_to("../top.txt")
    (ws / "d5" / "sub0" / "loop").symlink_to("loop")
    os.mkfifo(ws / "d3" / "sub1" / "pipe")
    (ws / "d2" / "sub2" / os.fsdecode(b"bad\xffname")).write_text("?")
    patterns = ["*.log", "build/", "d3/*.tmp", ".git/"]
    alone = manifest.capture(ws, patterns, split=False)
    monkeypatch.setattr(manifest, "SPLIT_AFTER", 0.0)  # split at the first chance
    if helper == "fails":
        monkeypatch.setattr(walk, "_HELPER_BOOT", "import sys; sys.exit(3)")
    elif helper == "garbage":
        monkeypatch.setattr(walk, "_HELPER_BOOT", "import sys; sys.stdout.write('no marshal here')")
    started: list[int] = []
    real_start = walk._Helper.start

    def spy(*args: object, **kwargs: object) -> object:
        started.append(1)
        return real_start(*args, **kwargs)  # type: ignore[arg-type]

    codes: list[int | None] = []
    real_finish = walk._Helper.finish

    def spy_finish(self: walk._Helper, walker: walk.Walker) -> None:
        real_finish(self, walker)
        codes.append(self.proc.returncode)

    monkeypatch.setattr(walk._Helper, "start", spy)
    monkeypatch.setattr(walk._Helper, "finish", spy_finish)
    split = manifest.capture(ws, patterns)
    assert started, "the walk never split"
    assert codes == [{"works": 0, "fails": 3, "garbage": 0}[helper]]
    assert (split.paths, split.kinds, split.sizes, split.mtimes, split.modes, split.targets, split.errors) == (
        alone.paths,
        alone.kinds,
        alone.sizes,
        alone.mtimes,
        alone.modes,
        alone.targets,
        alone.errors,
    )
    assert len(alone.paths) == 6 * 5 * 3 + 5
