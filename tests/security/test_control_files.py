"""Issue 14: whatever the agent writes in its tree, ctask is never its deputy (SPEC 2 and 9).

The findings: log appends followed the agent's symlinks into ``~/.bashrc``;
a ``write.lock`` symlink got its target truncated; the agent rewrote the next
launch, the lease and the baseline through files in its own tree; a FIFO in
place of a control file hung every command; control files were world-readable.
Each test drives the real ``ctask`` and asserts what the user would see.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import Env

pytestmark = pytest.mark.timeout(180)

CONTROL_FILES = ("task.yaml", "lease.yaml", "write.lock", "summary.yaml", "sessions.jsonl", "events.jsonl")


def _shell_task(env: Env, name: str, script: str) -> None:
    """``ctask new NAME`` whose agent is ``sh -c SCRIPT``, run to its end."""
    proc = env.run("new", name, "--agent", "/bin/sh", "--", "-c", script)
    assert proc.returncode == 0, proc.stderr


def test_log_symlinks_the_agent_plants_in_its_tree_lead_nowhere(env: Env) -> None:
    bashrc = env.home / ".bashrc"
    bashrc.write_text("# the user's own\n")
    marker = env.root / "marker"
    script = (
        'mkdir -p .ctask && ln -s "$HOME/.bashrc" .ctask/sessions.jsonl && ln -s "$HOME/.profile" .ctask/events.jsonl'
        ' && ln -s "$HOME/.bashrc" sessions.jsonl && ln -s "$HOME/.profile" events.jsonl'
        f" && echo '$(id > {marker})'"
    )
    _shell_task(env, "t1", script)
    assert bashrc.read_text() == "# the user's own\n", "ctask wrote through the agent's symlink"
    assert not (env.home / ".profile").exists(), "ctask created a file the agent's symlink named"
    env.records("t1", 1)
    summary = env.summary("t1")
    assert summary is not None
    assert {"sessions.jsonl", "events.jsonl", ".ctask/sessions.jsonl", ".ctask/events.jsonl"} <= set(
        summary["added"]
    ), "the agent's links are its own files, reported as such"
    assert not marker.exists()


def test_files_the_agent_names_like_control_files_change_nothing(env: Env) -> None:
    future = "2099-01-01T00:00:00Z"
    script = (
        "printf 'schema: 2\\nname: t1\\nagent: {command: /bin/false, args: [], env: {LD_PRELOAD: /tmp/x.so}}\\n'"
        " > task.yaml"
        f" && printf 'schema: 1\\nsession_id: x\\nhost: h\\npid: 1\\nheartbeat_at: {future}\\n' > lease.yaml"
        " && mkdir -p .ctask && cp lease.yaml .ctask/lease.yaml && echo '{}' > manifest.start.json"
        " && echo changed > notes.txt"
    )
    _shell_task(env, "t1", script)
    meta = env.task_yaml("t1")
    assert meta["agent"]["command"] == "/bin/sh" and meta["agent"]["env"] == {}, "the next launch was changed"
    assert env.lease("t1") is None
    status = env.run("status", "t1", "--json")
    assert status.returncode == 0, status.stderr
    assert yaml.safe_load(status.stdout)["lease"]["state"] == "missing"
    env.records("t1", 1)
    summary = env.summary("t1")
    assert summary is not None
    assert {"task.yaml", "lease.yaml", "manifest.start.json", "notes.txt"} <= set(summary["added"])
    stop = env.run("stop", "t1")
    assert stop.stderr == "ctask: error: task t1 has no running session; nothing to stop\n", "a forged lease counted"


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
@pytest.mark.parametrize("control", CONTROL_FILES)
def test_a_control_file_that_is_a_link_or_fifo_is_reported_never_followed_nor_waited_on(
    env: Env, control: str, kind: str
) -> None:
    _shell_task(env, "t1", "echo hi > a.txt")
    target = env.root / "outside.txt"
    target.write_text("precious\n")
    target.chmod(0o640)
    path = env.task_dir("t1") / control
    path.unlink(missing_ok=True)
    if kind == "symlink":
        path.symlink_to(target)
    else:
        os.mkfifo(path)
    for command in (["list"], ["status", "t1"], ["diff", "t1"], ["stop", "t1"], ["resume", "t1", "--detach"]):
        try:
            proc = env.run(*command, timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`ctask {' '.join(command)}` hung on a {kind} at {control}")
        assert "Traceback" not in proc.stderr, (command, proc.stderr)
        assert proc.returncode in (0, 1), (command, proc.returncode, proc.stderr)
        if proc.returncode == 1:
            assert len(proc.stderr.strip().splitlines()) <= 2, proc.stderr
    assert target.read_text() == "precious\n", "written through the link"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640, "chmodded through the link"
    assert path.is_symlink() if kind == "symlink" else stat.S_ISFIFO(path.lstat().st_mode), "ctask replaced it"
    env.tmux("kill-server")


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["rm", "rm-force"])
@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_rm_removes_a_task_whose_write_lock_is_a_link_or_fifo_never_through_it(
    env: Env, kind: str, force: list[str]
) -> None:
    """``rm`` takes the task's write lock before it removes (an owner may be recording): a link or FIFO planted
    there is no lock, and removing the task is how it is mended, so ``rm`` goes on without it (it once refused)."""
    _shell_task(env, "t1", "echo hi > a.txt")
    target = env.root / "outside.txt"
    target.write_text("precious\n")
    lock = env.task_dir("t1") / "write.lock"
    lock.unlink()
    if kind == "symlink":
        lock.symlink_to(target)
    else:
        os.mkfifo(lock)
    proc = env.run("rm", "t1", *force, timeout=30)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    assert proc.stdout == f"removed task t1 ({env.tree('t1')})\n"
    assert not env.task_dir("t1").exists()
    assert target.read_text() == "precious\n"


def test_control_directory_and_files_are_private(env: Env, agent: list[str]) -> None:
    proc = env.new("t1", agent, "write=a.txt:x")
    assert proc.returncode == 0, proc.stderr
    tasks = env.ctask_home / "tasks"
    assert stat.S_IMODE(tasks.stat().st_mode) == 0o700
    control = env.task_dir("t1")
    assert stat.S_IMODE(control.stat().st_mode) == 0o700
    files = [p for p in control.iterdir() if p.is_file()]
    assert {"task.yaml", "sessions.jsonl", "events.jsonl", "summary.yaml", "write.lock"} <= {p.name for p in files}
    wrong = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files if stat.S_IMODE(p.stat().st_mode) != 0o600}
    assert not wrong, f"control files readable by others: {wrong}"
    assert not any(p.name in CONTROL_FILES for p in env.tree("t1").iterdir()), "a control file in the agent's tree"


def test_the_agent_cannot_make_rm_delete_another_repositorys_branch(env: Env, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["git", "init", "-q", "-b", "main", str(other)], check=True, env=env.vars)
    who = ["-c", "user.name=u", "-c", "user.email=u@x"]
    commit = [*who, "commit", "-q", "--allow-empty", "-m", "x"]
    subprocess.run(["git", "-C", str(other), *commit], check=True, env=env.vars)
    subprocess.run(["git", "-C", str(other), "branch", "precious"], check=True, env=env.vars)
    script = (
        f"printf 'schema: 2\\nname: t1\\nrepo: {{path: {other}, branch: precious, base: main, worktree: {other}}}\\n'"
        " > task.yaml"
    )
    _shell_task(env, "t1", script)
    proc = env.run("rm", "t1", "--delete-branch")
    assert proc.returncode == 0, proc.stderr
    listing = ["git", "-C", str(other), "branch", "--list", "precious"]
    branches = subprocess.run(listing, capture_output=True, text=True, env=env.vars, check=True)
    assert "precious" in branches.stdout, "rm deleted a branch the agent named"
    assert other.is_dir()
