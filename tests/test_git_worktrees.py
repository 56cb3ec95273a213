"""Tasks on a git repository: one worktree and one branch per task (CLI and core).

Real git repositories in temp directories, real tmux on the test's private
socket, the real ``ctask`` process.
"""

from __future__ import annotations

import json
import shutil
import sys
import typing as t
from pathlib import Path

import pytest

from tests.gitrepo import GIT_AGENT_SCRIPT, IDENTITY, branches, git, head, make_repo, worktrees
from tests.helpers import Env, retry_until


@pytest.fixture
def gagent(tmp_path: Path) -> list[str]:
    script = tmp_path / "gitagent.py"
    script.write_text(GIT_AGENT_SCRIPT)
    return [sys.executable, str(script)]


@pytest.fixture
def repo(env: Env, tmp_path: Path) -> Path:
    return make_repo(env.vars, tmp_path / "project")


def run(env: Env, *args: str) -> t.Any:
    return env.run(*args, env=IDENTITY)


def new(env: Env, name: str, repo: Path, agent: list[str], *steps: str, extra: t.Sequence[str] = ()) -> t.Any:
    """``ctask new NAME --repo REPO [extra] --agent PY -- SCRIPT STEPS``, run to its end (no terminal: it owns).

    The agent lives past the launch grace (an agent that exits at once is a failed launch).
    """
    tail = () if any(s.startswith("exit=") for s in steps) else ("sleep=0.6",)
    return run(env, "new", name, "--repo", str(repo), *extra, "--agent", agent[0], "--", *agent[1:], *steps, *tail)


def state_of(env: Env, repo: Path) -> tuple[list[str], list[str], list[str]]:
    """What a failed ``new`` must leave as it was: tasks, branches, worktrees."""
    return env.task_names(), branches(env.vars, repo), worktrees(env.vars, repo)


def one_line_error(proc: t.Any) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ctask: error:")]
    assert len(lines) == 1, proc.stderr
    return str(lines[0])


# -- new --------------------------------------------------------------------------------------


def test_new_with_repo_runs_the_agent_in_a_worktree_on_its_own_branch(env: Env, repo: Path, gagent: list[str]) -> None:
    base = head(env.vars, repo)
    proc = new(env, "t1", repo, gagent, "dump=info.json")
    assert proc.returncode == 0, proc.stderr
    ws = env.tree("t1")
    worktree = ws / "project"
    meta = env.task_yaml("t1")
    assert meta["repo"] == {
        "path": str(repo),
        "branch": "ctask/t1",
        "base": base,
        "base_ref": "HEAD",
        "worktree": str(worktree),
    }
    info = json.loads((ws / "info.json").read_text())
    assert info["cwd"] == str(worktree), "the agent starts in the worktree"
    assert info["env"]["CTASK_WORKTREE"] == str(worktree)
    assert info["env"]["CTASK_WORKSPACE"] == str(ws)
    assert str(worktree) in worktrees(env.vars, repo)
    assert branches(env.vars, repo) == ["ctask/t1", "main"]
    assert head(env.vars, worktree) == base
    assert (worktree / "README.md").read_text() == "hello\n"
    # The user's checkout is untouched: still on main, nothing changed.
    assert git(env.vars, repo, "status", "--porcelain") == ""
    assert git(env.vars, repo, "branch", "--show-current").strip() == "main"
    status = env.json("status", "t1")
    assert status["repo"]["branch"] == "ctask/t1"
    assert status["repo"]["worktree"] == str(worktree)
    text = env.run("status", "t1", check=True).stdout
    assert f"repo:      {repo} (branch ctask/t1 from {base[:12]})" in text
    assert f"worktree:  {worktree}" in text


def test_new_from_a_subdirectory_with_branch_and_base(env: Env, repo: Path, gagent: list[str]) -> None:
    first = head(env.vars, repo)
    (repo / "later.txt").write_text("later\n")
    git(env.vars, repo, "add", "-A")
    git(env.vars, repo, "commit", "-q", "-m", "later")
    git(env.vars, repo, "tag", "v1", first)
    proc = new(env, "t1", repo / "src", gagent, extra=("--branch", "feature/x", "--base", "v1"))
    assert proc.returncode == 0, proc.stderr
    meta = env.task_yaml("t1")["repo"]
    assert meta["path"] == str(repo), "the repository's top level is recorded"
    assert meta["branch"] == "feature/x"
    assert meta["base"] == first
    assert meta["base_ref"] == "v1"
    worktree = Path(meta["worktree"])
    assert head(env.vars, worktree) == first
    assert not (worktree / "later.txt").exists()
    assert "feature/x" in branches(env.vars, repo)


def test_new_from_another_tasks_worktree_records_the_main_repository(env: Env, repo: Path, gagent: list[str]) -> None:
    assert new(env, "t1", repo, gagent).returncode == 0
    proc = new(env, "t2", env.tree("t1") / "project", gagent)
    assert proc.returncode == 0, proc.stderr
    meta = env.task_yaml("t2")["repo"]
    assert meta["path"] == str(repo), "the main worktree, not t1's"
    assert meta["worktree"] == str(env.tree("t2") / "project")
    # Removing t1 does not orphan t2.
    assert env.run("rm", "t1").returncode == 0
    proc = env.run("rm", "t2", "--delete-branch")
    assert proc.returncode == 0, proc.stderr
    assert worktrees(env.vars, repo) == [str(repo)]
    assert branches(env.vars, repo) == ["ctask/t1", "main"]


def test_terminal_spec_opens_in_the_worktree(env: Env, repo: Path, gagent: list[str]) -> None:
    proc = run(
        env, "new", "t1", "--repo", str(repo), "--detach", "--json", "--agent", gagent[0], "--", gagent[1], "wait=go"
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["terminal"]["cwd"] == str(env.tree("t1") / "project")
    env.go("t1")
    retry_until(lambda: not env.tmux_alive("t1"))
    env.run("list", check=True)
    env.records("t1", 1)


# -- the summary's git view ------------------------------------------------------------------------


def test_summary_lists_commits_committed_and_uncommitted_changes(env: Env, repo: Path, gagent: list[str]) -> None:
    base = head(env.vars, repo)
    proc = new(
        env,
        "t1",
        repo,
        gagent,
        "write=feature.py:x = 1\n",
        "write=README.md:changed\n",
        "commit=agent: add feature",
        "write=notes.txt:scratch\n",
        "write=src/app.py:print('edited')\n",
        "rm=README.md",
        "git=rm -q --cached src/app.py",
    )
    assert proc.returncode == 0, proc.stderr
    worktree = env.tree("t1") / "project"
    summary = env.summary("t1")
    assert summary is not None
    view = summary["git"]
    assert view["branch"] == "ctask/t1"
    assert view["base"] == base
    assert view["head"] == head(env.vars, worktree)
    assert [c["subject"] for c in view["commits"]] == ["agent: add feature"]
    assert view["commits"][0]["sha"] == view["head"]
    assert sorted((e["status"], e["path"]) for e in view["committed"]) == [("A", "feature.py"), ("M", "README.md")]
    assert sorted((e["status"], e["path"]) for e in view["uncommitted"]) == [
        ("??", "notes.txt"),
        ("??", "src/app.py"),
        ("D", "README.md"),
        ("D", "src/app.py"),
    ]
    assert view["counts"] == {"commits": 1, "committed": 2, "uncommitted": 4}
    # The manifest diff stands next to git's view.
    assert "project/notes.txt" in summary["added"]
    # What the user reads at the end of the session.
    assert "commits since base: 1" in proc.stdout
    assert "agent: add feature" in proc.stdout
    assert "A\tfeature.py" in proc.stdout
    assert "??\tnotes.txt" in proc.stdout
    # The session log keeps counts, not the lists.
    record = env.records("t1", 1)[0]
    assert record["git"]["counts"] == view["counts"]
    assert "commits" not in record["git"]
    diff = env.json("diff", "t1")
    assert diff["git"]["counts"] == view["counts"]


def test_live_diff_shows_gits_view_while_the_agent_runs(env: Env, repo: Path, gagent: list[str]) -> None:
    proc = env.spawn(
        "new", "t1", "--repo", str(repo), "--agent", gagent[0], "--", gagent[1], "write=x:1", "commit=one", "wait=go",
        env=IDENTITY,
    )  # fmt: skip
    env.wait_owned("t1", proc)
    worktree = env.tree("t1") / "project"
    (worktree / "wip.txt").write_text("wip\n")
    diff = env.json("diff", "t1")
    assert diff["live"] is True
    assert {"status": "??", "path": "wip.txt"} in diff["git"]["uncommitted"]
    env.go("t1")
    code, _out, err = env.finish(proc)
    assert code == 0, err


def test_two_tasks_on_one_repository_run_at_once_and_stay_apart(env: Env, repo: Path, gagent: list[str]) -> None:
    procs = {}
    for name in ("a", "b"):
        steps = (f"write=README.md:by {name}\n", f"write={name}.txt:{name}\n", "wait=go", f"commit=work of {name}")
        procs[name] = env.spawn(
            "new", name, "--repo", str(repo), "--agent", gagent[0], "--", gagent[1], *steps, env=IDENTITY
        )
    for name, proc in procs.items():
        env.wait_owned(name, proc)
    # Both agents run at the same time, each in its own checkout.
    assert env.tmux_alive("a") and env.tmux_alive("b")
    retry_until(lambda: all((env.tree(n) / "project" / f"{n}.txt").exists() for n in ("a", "b")))
    assert (env.tree("a") / "project" / "README.md").read_text() == "by a\n"
    assert (env.tree("b") / "project" / "README.md").read_text() == "by b\n"
    for name in ("a", "b"):
        env.go(name)
    for proc in procs.values():
        code, _out, err = env.finish(proc)
        assert code == 0, err
    for name, other in (("a", "b"), ("b", "a")):
        summary = env.summary(name)
        assert summary is not None
        view = summary["git"]
        assert [c["subject"] for c in view["commits"]] == [f"work of {name}"]
        assert sorted(e["path"] for e in view["committed"]) == ["README.md", f"{name}.txt"]
        assert view["uncommitted"] == []
        assert git(env.vars, repo, "show", f"ctask/{name}:README.md") == f"by {name}\n"
        assert git(env.vars, repo, "ls-tree", "--name-only", f"ctask/{name}").split().count(f"{other}.txt") == 0
    # The user's own checkout saw nothing.
    assert git(env.vars, repo, "status", "--porcelain") == ""
    assert (repo / "README.md").read_text() == "hello\n"


# -- rm ------------------------------------------------------------------------------------------


def test_rm_refuses_uncommitted_changes_then_force_removes_and_keeps_the_branch(
    env: Env, repo: Path, gagent: list[str]
) -> None:
    assert new(env, "t1", repo, gagent, "write=wip.txt:wip").returncode == 0
    worktree = env.tree("t1") / "project"
    proc = env.run("rm", "t1")
    line = one_line_error(proc)
    assert "uncommitted change" in line and "--force" in line
    assert (worktree / "wip.txt").read_text() == "wip", "a refused rm touches nothing"
    assert str(worktree) in worktrees(env.vars, repo)
    proc = env.run("rm", "t1", "--force")
    assert proc.returncode == 0, proc.stderr
    assert "branch ctask/t1 kept" in proc.stdout
    assert not env.task_dir("t1").exists()
    assert worktrees(env.vars, repo) == [str(repo)]
    assert "ctask/t1" in branches(env.vars, repo)


def test_rm_refuses_commits_no_other_branch_has(env: Env, repo: Path, gagent: list[str]) -> None:
    assert new(env, "t1", repo, gagent, "write=f.txt:1", "commit=agent work").returncode == 0
    proc = env.run("rm", "t1", "--delete-branch")
    line = one_line_error(proc)
    assert "1 commit(s) that no other branch has" in line
    assert env.task_dir("t1").exists()
    # Once merged, rm needs no --force; --delete-branch deletes the branch.
    git(env.vars, repo, "merge", "-q", "--ff-only", "ctask/t1")
    result = json.loads(env.run("rm", "t1", "--delete-branch", "--json", check=True).stdout)
    assert result["branch"] == "ctask/t1" and result["branch_deleted"] is True
    assert branches(env.vars, repo) == ["main"]
    assert worktrees(env.vars, repo) == [str(repo)]
    assert (repo / "f.txt").read_text() == "1", "the merged work is in the user's repository"


def test_rm_force_with_delete_branch_drops_unmerged_work(env: Env, repo: Path, gagent: list[str]) -> None:
    assert new(env, "t1", repo, gagent, "write=f.txt:1", "commit=agent work", "write=g.txt:2").returncode == 0
    proc = env.run("rm", "t1", "--force", "--delete-branch")
    assert proc.returncode == 0, proc.stderr
    assert "branch ctask/t1 deleted" in proc.stdout
    assert branches(env.vars, repo) == ["main"]
    assert worktrees(env.vars, repo) == [str(repo)]


def test_rm_of_a_clean_task_keeps_the_branch(env: Env, repo: Path, gagent: list[str]) -> None:
    assert new(env, "t1", repo, gagent).returncode == 0
    proc = env.run("rm", "t1")
    assert proc.returncode == 0, proc.stderr
    assert branches(env.vars, repo) == ["ctask/t1", "main"]
    assert worktrees(env.vars, repo) == [str(repo)]


def test_rm_when_the_repository_is_gone_needs_force(env: Env, repo: Path, gagent: list[str]) -> None:
    assert new(env, "t1", repo, gagent).returncode == 0
    shutil.rmtree(repo)
    line = one_line_error(env.run("rm", "t1"))
    assert "is gone" in line and "--force" in line
    assert env.task_dir("t1").exists()
    proc = env.run("rm", "t1", "--force")
    assert proc.returncode == 0, proc.stderr
    assert "warning: repository" in proc.stderr
    assert not env.task_dir("t1").exists()


# -- bad input: one line, nothing left behind --------------------------------------------------------


def test_not_a_repository(env: Env, tmp_path: Path, gagent: list[str]) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    bare = tmp_path / "bare.git"
    git(env.vars, tmp_path, "init", "-q", "--bare", str(bare))
    cases = (
        (plain, "is not inside a git repository"),
        (tmp_path / "missing", "is not a directory"),
        (bare, "must be run in a work tree"),
    )
    for path, words in cases:
        line = one_line_error(new(env, "t1", path, gagent))
        assert words in line and "--repo" in line
        assert not env.task_dir("t1").exists()
    assert not (plain / ".git").exists()


def test_branch_exists(env: Env, repo: Path, gagent: list[str]) -> None:
    git(env.vars, repo, "branch", "ctask/t1")
    before = state_of(env, repo)
    line = one_line_error(new(env, "t1", repo, gagent))
    assert "branch 'ctask/t1' already exists" in line and "--branch" in line
    assert state_of(env, repo) == before
    # The user's branch is never deleted by a failed new.
    assert head(env.vars, repo, "ctask/t1") == head(env.vars, repo)


def test_bad_ref_and_bad_branch_name(env: Env, repo: Path, gagent: list[str]) -> None:
    before = state_of(env, repo)
    line = one_line_error(new(env, "t1", repo, gagent, extra=("--base", "no-such-ref")))
    assert "'no-such-ref' is not a commit" in line and "--base" in line
    line = one_line_error(new(env, "t1", repo, gagent, extra=("--branch", "bad..name")))
    assert "not a valid git branch name" in line
    line = one_line_error(new(env, "t1", repo, gagent, extra=("--base=--output=/tmp/x",)))
    assert "is not a commit" in line
    assert state_of(env, repo) == before


def test_branch_and_base_need_repo(env: Env, gagent: list[str]) -> None:
    line = one_line_error(env.run("new", "t1", "--branch", "x", "--agent", gagent[0], "--", gagent[1]))
    assert "need repo" in line
    assert not env.task_dir("t1").exists()


def test_empty_repository_has_no_base(env: Env, tmp_path: Path, gagent: list[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(env.vars, empty, "init", "-q")
    line = one_line_error(new(env, "t1", empty, gagent))
    assert "has no commits yet" in line
    assert not env.task_dir("t1").exists()
    assert branches(env.vars, empty) == []


def test_git_missing(env: Env, repo: Path, gagent: list[str], tmp_path: Path) -> None:
    bare_bin = tmp_path / "bin-without-git"
    bare_bin.mkdir()
    tmux = shutil.which("tmux")
    assert tmux is not None
    (bare_bin / "tmux").symlink_to(tmux)
    proc = env.run("new", "t1", "--repo", str(repo), "--agent", gagent[0], "--", gagent[1], env={"PATH": str(bare_bin)})
    line = one_line_error(proc)
    assert "git is not installed" in line
    assert not env.task_dir("t1").exists()


def test_worktree_path_taken(env: Env, repo: Path, gagent: list[str]) -> None:
    # A task removed by hand (rm -rf) leaves its worktree registered in the repository.
    assert new(env, "t1", repo, gagent).returncode == 0
    shutil.rmtree(env.task_dir("t1"))
    before = state_of(env, repo)
    line = one_line_error(new(env, "t1", repo, gagent, extra=("--branch", "other")))
    assert "is taken" in line and "worktree prune" in line
    assert state_of(env, repo) == before
    assert "other" not in branches(env.vars, repo)
    git(env.vars, repo, "worktree", "prune")
    assert new(env, "t1", repo, gagent, extra=("--branch", "other")).returncode == 0


def test_a_failed_launch_removes_workspace_worktree_and_branch(env: Env, repo: Path, gagent: list[str]) -> None:
    before = state_of(env, repo)
    line = one_line_error(new(env, "t1", repo, gagent, "exit=3"))
    assert "exited with status 3" in line
    assert state_of(env, repo) == before
    assert git(env.vars, repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_resume_of_a_task_whose_worktree_is_gone(env: Env, repo: Path, gagent: list[str]) -> None:
    assert new(env, "t1", repo, gagent).returncode == 0
    git(env.vars, repo, "worktree", "remove", str(env.tree("t1") / "project"))
    line = one_line_error(env.run("resume", "t1"))
    assert "worktree" in line and "is gone" in line and "ctask rm t1" in line
    assert env.lease("t1") is None
    assert not env.tmux_alive("t1")


@pytest.mark.parametrize("point", ["new.before_worktree", "new.worktree_added"])
def test_a_new_killed_half_way_leaves_a_provisional_task_that_rm_cleans(
    env: Env, repo: Path, gagent: list[str], point: str
) -> None:
    argv = ("new", "t1", "--repo", str(repo), "--agent", gagent[0], "--", gagent[1])
    proc = env.run(*argv, env={"CTASK_FAULT": point})
    assert proc.returncode == -9
    assert env.task_yaml("t1")["provisional"] is True
    assert env.task_yaml("t1")["repo"]["branch"] == "ctask/t1"
    proc = env.run("rm", "t1")
    assert proc.returncode == 0, proc.stderr
    assert not env.task_dir("t1").exists()
    assert worktrees(env.vars, repo) == [str(repo)]
    assert branches(env.vars, repo) == ["main"], "the branch of a task that never ran goes with it"
