"""Tasks on a git repository in headless Neovim: the real server, tmux and git."""

from __future__ import annotations

import subprocess
import typing as t
from pathlib import Path

from tests.nvim.conftest import lease_part

if t.TYPE_CHECKING:
    from tests.helpers import Env
    from tests.nvim.conftest import Nvim

# The agent: commits agent.txt on its branch, leaves notes.txt uncommitted,
# then waits for `done` in the task's workspace (the worktree's parent).
AGENT = (
    "printf 'from the agent\\n' > agent.txt && git add agent.txt"
    " && git -c user.name=agent -c user.email=agent@example.com commit -qm 'agent: add agent.txt'"
    " && echo draft > notes.txt; while [ ! -e ../done ]; do sleep 0.1; done"
)


def _git(env: Env, cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        env=env.vars,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def _repository(env: Env, path: Path) -> Path:
    (path / "src").mkdir(parents=True)
    (path / "README.md").write_text("the app\n")
    (path / "src" / "app.py").write_text("print('app')\n")
    _git(env, path, "init", "-q", "-b", "main")
    _git(env, path, "add", "-A")
    _git(env, path, "commit", "-qm", "initial")
    return path


def test_newrepo_runs_the_agent_in_a_worktree_on_a_new_branch(nvim: Nvim, env: Env, tmp_path: Path) -> None:
    env.write_config({"agent": {"command": "sh", "args": ["-c", AGENT], "env": {}}})
    repo = _repository(env, tmp_path / "app")
    plain = tmp_path / "plain"
    plain.mkdir()
    run = nvim.run("repo.lua", {"repo": str(repo), "plain": str(plain)}, timeout=120)
    assert run.returncode == 0, run.explain()
    res = run.result

    # Completion of the keys of new/newrepo, and of directories after repo=.
    assert res["complete_newrepo_keys"] == ["agent=", "branch=", "base="]
    assert res["complete_new_keys_b"] == ["branch=", "base="]
    assert f"repo={repo}/" in res["complete_new_repo_dir"]

    # :Ctask newrepo from app/src asked for the name; the task works on app's top level.
    assert res["name_prompt"] == f"New task on the repository of {repo / 'src'}: "
    status_repo = res["status_repo"]
    worktree = Path(status_repo["worktree"])
    assert status_repo["path"] == str(repo)
    assert status_repo["branch"] == "ctask/t1"
    assert worktree.parent == env.tree("t1")
    # The terminal and the agent run in the worktree, which is on the new branch.
    assert res["terminal_cwd"] == str(worktree)
    assert res["pane_path"] == str(worktree)
    assert lease_part(res["statusline"]) == "● t1 owned [ctask/t1]"
    assert (
        lease_part(res["open_statusline"]) == "● t1 owned [ctask/t1]"
    )  # a file of the worktree, opened by :Ctask open
    assert ", branch ctask/t1 of " in res["status_line"] and str(repo) in res["status_line"]
    ended = res["ended_line"]
    assert ended.startswith("ctask: task t1: session ended (agent_exited, exit 0, ")
    summary_part, _, follow_up = ended.partition("; ")
    assert summary_part.endswith(", branch ctask/t1: 1 commit, 1 uncommitted)"), ended
    assert follow_up == ":Ctask diff t1 shows its changes, :Ctask resume t1 starts it again", ended
    # :Ctask diff: the committed and the uncommitted files, under the worktree, and one line of counts.
    base = _git(env, repo, "rev-parse", "--short=7", "main")
    assert res["diff_git_entries"] == [
        {"file": str(worktree / "agent.txt"), "text": "committed A", "valid": 1},
        {"file": str(worktree / "notes.txt"), "text": "uncommitted ??", "valid": 1},
    ], res["diff_git_entries"]
    assert res["final_git_entries"] == res["diff_git_entries"], "the final ctask/diff filled in git's view too"
    assert res["diff_git_line"] == f"ctask: t1 branch ctask/t1: 1 commit since {base}, 1 committed, 1 uncommitted"
    assert res["list_lines"][0].startswith("TASK ") and res["list_lines"][0].endswith("BRANCH")
    assert res["list_lines"][1].startswith("t1 ") and res["list_lines"][1].endswith("[ctask/t1]")

    # Not a repository: one ERROR line saying what to do, no task.
    lines = res["not_a_repo_lines"]
    assert len(lines) == 1, lines
    assert lines[0].startswith("ctask: ") and "\n" not in lines[0] and str(plain) in lines[0], lines
    assert res["not_a_repo_error"] == {"kind": "GitError", "reason": "not_a_repository"}
    assert not env.task_dir("t2").exists() and not env.task_dir("t3").exists()
    assert res["branch_exists_error"]["kind"] == "GitError"
    assert res["branch_exists_error"]["reason"] == "branch_exists"
    assert "ctask/t1" in res["branch_exists_error"]["message"]
    assert not env.task_dir("t4").exists()

    # The uncommitted notes.txt refused :Ctask remove before any question (the server's checks, dry_run);
    # :Ctask remove! asked about the branch, saying what forcing means.
    assert [a["items"] for a in res["remove_asked"]] == [["Remove", "Remove and delete branch ctask/t1", "Cancel"]]
    assert "uncommitted changes" in res["remove_asked"][0]["prompt"]  # :Ctask! remove
    assert res["remove_unforced"] == {"kind": "GitError", "reason": "dirty"}  # notes.txt
    [refused] = res["remove_unforced_lines"]
    assert refused.startswith(f"ctask: the worktree {worktree} has 1 uncommitted change(s); ")
    assert refused.endswith("commit or discard them, or :Ctask remove! t1 removes it anyway")
    assert res["removed_line"] == "ctask: removed task t1 and branch ctask/t1"
    assert not env.task_dir("t1").exists()
    assert _git(env, repo, "branch", "--list", "ctask/t1") == ""
    assert _git(env, repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert len(res["errors"]) == 4, res["errors"]
