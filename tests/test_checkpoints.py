"""Checkpoints, content diffs and revert (SPEC 3.13) through the real CLI, with real git and real files.

A session's agent waits on a flag outside its tree while the test changes
the tree as an agent would (so every kind of change is exact), then exits;
the CLI that launched it owns it to its end.  The test ``claude``
(tests/agents) ends turns with its ``Stop`` hook.  Every error path must say
what to do in one line and lose nothing.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from tests.helpers import AGENT_SCRIPT, Env, retry_until
from tests.test_activity import reaches, type_line

pytestmark = pytest.mark.timeout(120)


class Session:
    """One owned session of a waiting agent: change the tree, then :meth:`end` it."""

    def __init__(self, env: Env, name: str, command: str = "new") -> None:
        self.env, self.name = env, name
        script = env.root / "agent.py"
        script.write_text(AGENT_SCRIPT)
        self.flag = env.root / f"done-{name}"  # the task's agent waits for it in every session
        agent = [sys.executable, str(script), f"wait={self.flag}"]
        if command == "new":
            self.proc = env.spawn("new", name, "--agent", agent[0], "--", *agent[1:])
        else:
            self.proc = env.spawn(command, name)
        env.wait_owned(name, self.proc)
        self.tree = env.tree(name)

    def end(self) -> None:
        self.flag.write_text("")
        code, _out, err = self.env.finish(self.proc)
        self.flag.unlink()
        assert code == 0, err


def checkpoints(env: Env, name: str = "t1") -> list[dict[str, t.Any]]:
    return t.cast("list[dict[str, t.Any]]", env.json("checkpoints", name))


def files(root: Path) -> dict[str, str]:
    """Every file and symlink under ``root``: content hash or link target (what a revert must bring back)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()[:12] + f" {oct(path.stat().st_mode & 0o777)}"
    return out


def test_a_session_has_start_and_end_checkpoints_and_a_patch_of_its_changes(env: Env) -> None:
    env.write_config({"snapshot_max_file": 1024})
    s = Session(env, "t1")
    (s.tree / "keep.txt").write_text("one\ntwo\n")
    (s.tree / "gone.txt").write_text("bye\n")
    s.end()
    s = Session(env, "t1", "resume")
    (s.tree / "keep.txt").write_text("one\nTWO\n")
    (s.tree / "gone.txt").unlink()
    (s.tree / "new.txt").write_text("hello\n")
    (s.tree / "bin.dat").write_bytes(b"\0\1\2")
    (s.tree / "big.dat").write_bytes(b"x" * 2048)  # over this test's snapshot_max_file
    s.end()

    cps = checkpoints(env)
    assert [c["source"] for c in cps] == ["start", "end", "start", "end"]
    assert [c["n"] for c in cps] == [1, 2, 3, 4]
    assert cps[1]["counts"] == {"added": 2, "modified": 0, "deleted": 0}
    assert cps[3]["counts"] == {"added": 2, "modified": 1, "deleted": 1}
    assert cps[3]["metadata_only"] == {"big.dat": "over snapshot_max_file (2048 bytes)"}
    assert cps[2]["session_id"] == cps[3]["session_id"] == (env.summary("t1") or {}).get("session_id")

    patch = env.run("diff", "t1", "--patch", check=True).stdout  # against the last session's start
    assert "-two\n+TWO\n" in patch
    assert "+++ b/new.txt" in patch and "+hello" in patch
    assert "--- a/gone.txt" in patch and "-bye" in patch
    assert "Binary files /dev/null and b/bin.dat differ" in patch
    assert "# big.dat: over snapshot_max_file (2048 bytes): kept by metadata only" in patch
    only = env.run("diff", "t1", "--patch", "new.txt", check=True).stdout
    assert "new.txt" in only and "keep.txt" not in only
    since_first = env.run("diff", "t1", "--patch", "--since", "1", check=True).stdout
    assert "+++ b/keep.txt" in since_first and "+two" not in since_first

    table = env.run("checkpoints", "t1", check=True).stdout.splitlines()
    assert table[0].split()[:4] == ["#", "TIME", "SOURCE", "ADDED"]
    assert len(table) == 5


def test_revert_brings_files_back_and_can_itself_be_undone(env: Env) -> None:
    s = Session(env, "t1")
    (s.tree / "a.txt").write_text("a\n")
    (s.tree / "dir").mkdir()
    (s.tree / "dir" / "b.txt").write_text("b\n")
    (s.tree / "run.sh").write_text("#!/bin/sh\n")
    (s.tree / "run.sh").chmod(0o755)
    (s.tree / "link").symlink_to("a.txt")
    (s.tree / "was-file").write_text("file\n")
    s.end()
    s = Session(env, "t1", "resume")
    start = files(s.tree)
    (s.tree / "a.txt").write_text("changed\n")
    (s.tree / "dir" / "b.txt").unlink()
    (s.tree / "dir").rmdir()
    (s.tree / "added.txt").write_text("new\n")
    (s.tree / "deep" / "er").mkdir(parents=True)
    (s.tree / "deep" / "er" / "x.txt").write_text("x\n")
    (s.tree / "run.sh").chmod(0o644)
    (s.tree / "link").unlink()
    (s.tree / "link").symlink_to("run.sh")
    (s.tree / "was-file").unlink()
    (s.tree / "was-file").mkdir()
    (s.tree / "was-file" / "inside.txt").write_text("in\n")

    proc = env.run("revert", "t1")
    assert proc.returncode == 1, "refused while the agent runs"
    assert proc.stderr.count("\n") == 1 and "ctask stop t1" in proc.stderr and "--force" in proc.stderr
    s.end()
    changed = files(s.tree)

    out = env.json("revert", "t1")
    assert out["to"]["n"] == 3 and out["to"]["source"] == "start"
    assert files(s.tree) == start, "every change of the session undone"
    assert not (s.tree / "deep").exists(), "directories the agent made, emptied, are gone"
    assert out["before"]["source"] == "revert"
    assert "reverted" in env.event_kinds("t1")

    env.run("revert", "t1", "--to", str(out["before"]["n"]), check=True)
    assert files(s.tree) == changed, "the revert undone"

    env.run("revert", "t1", "a.txt", check=True)  # one path only
    assert (s.tree / "a.txt").read_text() == "a\n" and (s.tree / "added.txt").exists()


def test_revert_errors_say_what_to_do_and_lose_nothing(env: Env, tmp_path: Path) -> None:
    s = Session(env, "t1")
    (s.tree / "a.txt").write_text("a\n")
    s.end()
    before = files(s.tree)
    for args, said in [
        (("--to", "99"), "checkpoint '99' is not one of its checkpoints (task t1 has 1 to 2)"),
        (("--to", "zzz"), "checkpoint 'zzz' is not one of its checkpoints"),
        (("../../etc/passwd",), "is not a path inside task t1's tree"),
        ((str(tmp_path),), "is not a path inside task t1's tree"),
    ]:
        proc = env.run("revert", "t1", *args)
        assert proc.returncode == 1, (args, proc.stdout)
        assert proc.stderr.count("\n") == 1 and said in proc.stderr, (args, proc.stderr)
    assert files(s.tree) == before
    assert len(checkpoints(env)) == 2, "a refused revert takes no checkpoint"
    proc = env.run("diff", "t1", "--patch", "--since", "7")
    assert proc.returncode == 1 and "see `ctask checkpoints t1`" in proc.stderr


def test_revert_never_writes_through_a_symlink_the_agent_planted(env: Env, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    s = Session(env, "t1")
    (s.tree / "dir").mkdir()
    (s.tree / "dir" / "f.txt").write_text("mine\n")
    s.end()
    s = Session(env, "t1", "resume")
    (s.tree / "dir" / "f.txt").unlink()
    (s.tree / "dir").rmdir()
    (s.tree / "dir").symlink_to(outside)  # the agent's way out
    s.end()
    env.run("revert", "t1", check=True)
    assert not (s.tree / "dir").is_symlink(), "the link goes: it is not what the checkpoint had"
    assert (s.tree / "dir" / "f.txt").read_text() == "mine\n"
    assert list(outside.iterdir()) == [], "nothing written through it, outside the tree"


def test_a_repo_tasks_checkpoints_leave_the_users_repository_byte_for_byte(env: Env, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "f.txt").write_text("base\n")
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)

    def state() -> dict[str, str]:
        gitdir = repo / ".git"
        out = {
            str(p.relative_to(gitdir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in gitdir.rglob("*")
            if p.is_file() and "worktrees" not in p.parts
        }
        out["refs"] = subprocess.run([*git, "for-each-ref"], capture_output=True, text=True, check=True).stdout
        return out

    script = env.root / "agent.py"
    script.write_text(AGENT_SCRIPT)
    flag = env.root / "go-repo"
    proc = env.spawn("new", "t1", "--repo", str(repo), "--agent", sys.executable, "--", str(script), f"wait={flag}")
    env.wait_owned("t1", proc)
    before = state()
    worktree = env.tree("t1") / "repo"
    (worktree / "f.txt").write_text("changed\n")
    env.run("checkpoint", "t1", "-m", "mid-way", check=True)
    flag.write_text("")
    assert env.finish(proc)[0] == 0
    assert state() == before
    cps = checkpoints(env)
    assert [c["source"] for c in cps] == ["start", "manual", "end"] and cps[1]["message"] == "mid-way"
    assert "repo/.git" in cps[0]["metadata_only"]
    env.run("revert", "t1", check=True)
    assert (worktree / "f.txt").read_text() == "base\n"
    assert state() == before


def test_each_turn_of_claude_ends_in_a_checkpoint(agents: Env) -> None:
    env = agents
    proc = env.spawn("new", "t1", "--agent", "claude")
    env.wait_owned("t1", proc)
    reaches(env, "t1", "idle")
    (env.tree("t1") / "turn1.txt").write_text("1\n")
    type_line(env, "t1", "prompt one")
    type_line(env, "t1", "approve")  # PostToolUse, Stop: the turn is over
    turns = retry_until(lambda: [c for c in checkpoints(env) if c["source"] == "turn"], 40)
    assert turns[0]["counts"] == {"added": 1, "modified": 0, "deleted": 0}
    type_line(env, "t1", "prompt two")
    type_line(env, "t1", "approve")  # a turn that changed nothing: no checkpoint
    reaches(env, "t1", "idle")
    type_line(env, "t1", "quit")
    assert env.finish(proc)[0] == 0
    assert [c["source"] for c in checkpoints(env)] == ["start", "turn", "end"]


def test_old_checkpoints_are_pruned_but_every_sessions_start_stays(env: Env) -> None:
    env.write_config({"checkpoint_keep": 3})
    s = Session(env, "t1")
    for i in range(6):
        (s.tree / "f.txt").write_text(f"{i}\n")
        env.run("checkpoint", "t1", "-m", f"step {i}", check=True)
    s.end()
    cps = checkpoints(env)
    assert [(c["n"], c["source"]) for c in cps] == [(1, "start"), (6, "manual"), (7, "manual"), (8, "end")]
    env.run("revert", "t1", "--to", "6", check=True)  # a kept one's content is all there
    assert (s.tree / "f.txt").read_text() == "4\n"
    proc = env.run("revert", "t1", "--to", "3")
    assert proc.returncode == 1 and "is not one of its checkpoints" in proc.stderr
