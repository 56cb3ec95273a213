"""Repo tasks through the server: ``ctask.new`` with ``repo``, git's view, ``ctask.remove``."""

from __future__ import annotations

import shutil
import sys
import typing as t
from pathlib import Path

import pytest

from ctask_ls.server import protocol as p
from tests.gitrepo import GIT_AGENT_SCRIPT, IDENTITY, branches, git, head, make_repo, worktrees
from tests.helpers import Env
from tests.server.conftest import CLIENTS, Start


@pytest.fixture
def gagent(tmp_path: Path) -> str:
    script = tmp_path / "gitagent.py"
    script.write_text(GIT_AGENT_SCRIPT)
    return str(script)


@pytest.mark.parametrize("client", CLIENTS)
async def test_new_from_a_repository_runs_in_the_worktree_and_reports_gits_view(
    lsp: Start, env: Env, tmp_path: Path, gagent: str, client: str
) -> None:
    repo = make_repo(env.vars, tmp_path / "project")
    base = head(env.vars, repo)
    s = await lsp(client=client, extra_env=IDENTITY)
    steps = ["dump=info.json", "write=feature.py:x = 1\n", "commit=agent: feature", "write=wip.txt:wip", "wait=go"]
    args = {"name": "t1", "agent": sys.executable, "args": [gagent, *steps], "repo": str(repo / "src")}
    result = await s.command(p.NEW, args)
    worktree = env.tree("t1") / "project"
    assert result["action"] == "launched"
    assert result["terminal"]["cwd"] == str(worktree), "the editor's terminal opens in the worktree"
    status = await s.command(p.STATUS, {"name": "t1"})
    assert status["repo"] == {
        "path": str(repo),
        "branch": "ctask/t1",
        "base": base,
        "base_ref": "HEAD",
        "worktree": str(worktree),
    }
    opened = await s.command(p.OPEN, {"name": "t1"})
    assert opened["folder"] == str(worktree) and opened["uri"] == worktree.as_uri()
    listed = {task["name"]: task for task in await s.command(p.LIST, {})}
    assert listed["t1"]["repo"]["branch"] == "ctask/t1"
    mark = s.mark()
    env.go("t1")
    ended = await s.wait_for(p.SESSION_ENDED, name="t1", since=mark, timeout=20)
    view = ended.params["summary"]["git"]
    assert view["branch"] == "ctask/t1" and view["base"] == base
    assert [c["subject"] for c in view["commits"]] == ["agent: feature"]
    assert view["committed"] == [{"status": "A", "path": "feature.py"}]
    assert view["uncommitted"] == [{"status": "??", "path": "wip.txt"}]
    diff = await s.command(p.DIFF, {"name": "t1"})
    assert diff["git"]["counts"] == {"commits": 1, "committed": 1, "uncommitted": 1}

    # remove: refused while the worktree has uncommitted work (a dry run says so first, removing nothing),
    # then forced; the branch goes on request.
    err = await s.error(p.REMOVE, {"name": "t1", "dry_run": True})
    assert err.kind == "GitError" and err.data["reason"] == "dirty"
    assert worktree.is_dir() and env.task_dir("t1").is_dir()
    checked = await s.command(p.REMOVE, {"name": "t1", "dry_run": True, "force": True})
    assert checked == {"task": "t1", "removable": True, "workspace": str(env.tree("t1")), "branch": "ctask/t1"}
    assert worktree.is_dir() and env.task_dir("t1").is_dir()
    err = await s.error(p.REMOVE, {"name": "t1"})
    assert err.kind == "GitError" and err.data["reason"] == "dirty"
    assert "\n" not in err.message and "--force" in err.message
    assert worktree.is_dir()
    removed = await s.command(p.REMOVE, {"name": "t1", "force": True, "delete_branch": True})
    assert removed["branch"] == "ctask/t1" and removed["branch_deleted"] is True
    assert branches(env.vars, repo) == ["main"]
    assert worktrees(env.vars, repo) == [str(repo)]


async def test_git_errors_are_one_line_leave_nothing_and_keep_the_server_up(
    lsp: Start, env: Env, tmp_path: Path, gagent: str
) -> None:
    repo = make_repo(env.vars, tmp_path / "project")
    git(env.vars, repo, "branch", "taken")
    plain = tmp_path / "plain"
    plain.mkdir()
    s = await lsp()
    base: dict[str, t.Any] = {"name": "t1", "agent": sys.executable, "args": [gagent, "wait=go"]}
    cases: list[tuple[dict[str, t.Any], str, str | None]] = [
        ({"repo": str(plain)}, "GitError", "not_a_repository"),
        ({"repo": str(repo), "branch": "taken"}, "GitError", "branch_exists"),
        ({"repo": str(repo), "base": "nope"}, "GitError", "bad_ref"),
        ({"repo": str(repo), "branch": "a..b"}, "GitError", "bad_branch"),
        ({"branch": "x"}, "InvalidArgument", None),
        ({"repo": 42}, "InvalidArgument", None),
    ]
    for extra, kind, reason in cases:
        err = await s.error(p.NEW, {**base, **extra})
        assert err.kind == kind, (extra, err)
        if reason is not None:
            assert err.data["reason"] == reason, (extra, err)
        assert "\n" not in err.message
        assert not env.task_dir("t1").exists(), extra
    assert branches(env.vars, repo) == ["main", "taken"]
    assert worktrees(env.vars, repo) == [str(repo)]
    # git missing: the server's PATH has tmux but no git.
    bare_bin = tmp_path / "bin-without-git"
    bare_bin.mkdir()
    tmux = shutil.which("tmux")
    assert tmux is not None
    (bare_bin / "tmux").symlink_to(tmux)
    s2 = await lsp(extra_env={"PATH": str(bare_bin)})
    err = await s2.error(p.NEW, {**base, "repo": str(repo)})
    assert err.kind == "GitNotFound" and "install git" in err.message
    # Both servers still answer.
    assert await s.command(p.LIST, {}) == []
    assert await s2.command(p.LIST, {}) == []


async def test_diff_notifications_of_a_repo_task_carry_gits_view_and_follow_a_commit(
    lsp: Start, env: Env, tmp_path: Path, gagent: str
) -> None:
    repo = make_repo(env.vars, tmp_path / "project")
    s = await lsp(extra_env=IDENTITY)
    args = {"name": "t1", "agent": sys.executable, "args": [gagent, "write=feature.py:x = 1\n", "wait=go"]}
    mark = s.mark()
    await s.command(p.NEW, {**args, "repo": str(repo)})
    worktree = env.tree("t1") / "project"

    def git_view(n: dict[str, t.Any]) -> dict[str, t.Any]:
        view: dict[str, t.Any] = n.get("git") or {}
        return view

    live = await s.wait_for(p.DIFF_NOTIFICATION, lambda n: bool(git_view(n).get("uncommitted")), name="t1", since=mark)
    assert live.params["final"] is False
    assert git_view(live.params)["uncommitted"] == [{"status": "??", "path": "feature.py"}]
    assert git_view(live.params)["commits"] == [] and git_view(live.params)["worktree"] == str(worktree)

    # A commit changes no file of the workspace; git's view changed, so a live diff follows it.
    git(env.vars, worktree, "add", "-A")
    git(env.vars, worktree, "commit", "-q", "-m", "by hand: feature")
    after = s.mark()
    committed = await s.wait_for(
        p.DIFF_NOTIFICATION, lambda n: git_view(n).get("counts", {}).get("commits") == 1, name="t1", since=after
    )
    view = git_view(committed.params)
    assert committed.params["final"] is False
    assert [c["subject"] for c in view["commits"]] == ["by hand: feature"]
    assert view["committed"] == [{"status": "A", "path": "feature.py"}] and view["uncommitted"] == []

    env.go("t1")
    final = await s.wait_for(p.DIFF_NOTIFICATION, lambda n: n["final"], name="t1", since=after, timeout=20)
    assert git_view(final.params)["counts"] == {"commits": 1, "committed": 1, "uncommitted": 0}

    # A task without a repository: no git key at all.
    await s.command(p.NEW, {"name": "plain", "agent": sys.executable, "args": [gagent, "write=a.txt:a", "wait=go"]})
    await s.wait_for(p.DIFF_NOTIFICATION, lambda n: n["added"] == ["a.txt"], name="plain")
    env.go("plain")
    plain = await s.wait_for(p.DIFF_NOTIFICATION, lambda n: n["final"], name="plain", timeout=20)
    assert "git" not in plain.params
