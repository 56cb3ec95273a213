"""Task names, workspaces, task.yaml, config and XDG paths, atomic writes and the write lock."""

from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path

import filelock
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ctask_ls.core.errors import InvalidName, LockTimeout
from ctask_ls.core.storage import atomic_write, require_lock, write_lock
from ctask_ls.core.workspace import Workspace, validate_name
from tests.helpers import Env, retry_until

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

BAD_NAMES = [
    pytest.param("..", id="dotdot"),
    pytest.param(".", id="dot"),
    pytest.param("../evil", id="parent-escape"),
    pytest.param("a/b", id="slash"),
    pytest.param("/tmp/abs", id="absolute"),
    pytest.param("with space", id="space"),
    pytest.param("tab\tname", id="tab"),
    pytest.param("new\nline", id="newline"),
    pytest.param("esc\x1b[31m", id="escape-sequence"),
    pytest.param("", id="empty"),
    pytest.param("a" * 65, id="65-chars"),
    pytest.param("t\u0430sk", id="cyrillic-a-lookalike"),
    pytest.param("\uff54ask", id="fullwidth-t"),
    pytest.param("task\u200b", id="zero-width-space"),
    pytest.param("caf\u00e9", id="accented"),
    pytest.param(".hidden", id="leading-dot"),
    pytest.param("_under", id="leading-underscore"),
    pytest.param("semi;colon", id="semicolon"),
    pytest.param("a:b", id="colon"),
]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("name", BAD_NAMES)
def test_new_rejects_invalid_name_before_touching_any_file(env: Env, name: str) -> None:
    before = _tree(env.root)
    proc = env.run("new", name, "--agent", sys.executable)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("ctask: error: invalid task name"), proc.stderr
    assert "use 1-64 characters of A-Z a-z 0-9 . _ -" in proc.stderr
    assert proc.stderr.count("\n") == 1, "the error must be one line, control characters escaped"
    assert "\x1b" not in proc.stderr
    assert not env.ctask_home.exists(), "no file may be touched for an invalid name"
    assert _tree(env.root) == before
    assert env.tmux_sessions() == []


@pytest.mark.parametrize("command", ["resume", "open", "attach", "status", "stop", "diff", "log", "rm", "repair"])
def test_every_command_rejects_path_traversal_names(env: Env, command: str) -> None:
    tasks = env.ctask_home / "tasks"
    (tasks / "keep" / "work").mkdir(parents=True)
    (tasks / "keep" / "work.txt").write_text("precious")
    before = _tree(env.root)
    extra = ["--force"] if command == "rm" else []
    for name in ("..", "../tasks", "keep/../../x", "."):
        proc = env.run(command, name, *extra)
        assert proc.returncode == 1, (name, proc.stderr)
        assert proc.stderr.startswith("ctask: error: invalid task name"), (name, proc.stderr)
    assert (tasks / "keep" / "work.txt").read_text() == "precious"
    assert _tree(env.root) == before


def test_a_task_directory_that_is_a_symlink_is_never_followed_out_of_home(env: Env, agent: list[str]) -> None:
    outside = env.root / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    tasks = env.ctask_home / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "evil").symlink_to(outside)
    for argv in (
        ["repair", "evil"],
        ["resume", "evil", "--detach"],
        ["new", "evil", "--agent", agent[0], "--", agent[1], "sleep=5"],
        ["rm", "evil", "--force"],
        ["status", "evil"],
    ):
        proc = env.run(*argv)
        assert "Traceback" not in proc.stderr, (argv, proc.stderr)
        assert proc.returncode == 1, (argv, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("ctask: error: "), (argv, proc.stderr)
        assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"], f"{argv} wrote outside the home"
    assert (tasks / "evil").is_symlink()
    assert env.tmux_sessions() == []


def test_name_of_64_characters_is_accepted_and_names_its_tmux_session(env: Env, agent: list[str]) -> None:
    name = "A1." + "x" * 58 + "_-z"
    assert len(name) == 64
    env.new_detached(name, agent, "sleep=30")
    assert env.task_dir(name).is_dir()
    assert env.tmux_sessions() == ["ctask-A1_" + "x" * 58 + "_-z"]


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=70))
def test_a_valid_name_always_stays_one_level_under_tasks(name: str) -> None:
    tasks = Path("/home/u/ctask/tasks")
    try:
        valid = validate_name(name)
    except InvalidName as exc:
        assert "invalid task name" in str(exc) or "must be a string" in str(exc)
        return
    ws = Workspace(tasks, valid)
    assert ws.root.parent == tasks
    assert ws.root.name == name
    assert name not in (".", "..")
    assert 1 <= len(name) <= 64
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)


def test_names_whose_tmux_names_collide_are_refused(env: Env, agent: list[str]) -> None:
    env.new_detached("a.b", agent, "sleep=30")
    proc = env.new("a_b", agent, "sleep=30")
    assert proc.returncode == 1
    assert proc.stderr == (
        "ctask: error: task name 'a_b' collides with task 'a.b' in tmux (both are ctask-a_b); pick another name\n"
    )
    assert not env.task_dir("a_b").exists()
    assert env.tmux_sessions() == ["ctask-a_b"]


def test_new_refuses_an_existing_task_and_leaves_it_untouched(env: Env, agent: list[str]) -> None:
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    before = env.read_control("t1", "task.yaml")
    proc = env.new("t1", agent, "sleep=0.4")
    assert proc.returncode == 1
    assert "task 't1' already exists; resume it with `ctask resume t1`" in proc.stderr
    assert env.read_control("t1", "task.yaml") == before
    env.records("t1", 1)


def test_task_yaml_has_the_documented_fields(env: Env, agent: list[str]) -> None:
    proc = env.run("new", "t1", "-m", "fix the login", "--agent", agent[0], "--", agent[1], "sleep=0.4")
    assert proc.returncode == 0, proc.stderr
    meta = env.task_yaml("t1")
    assert meta["schema"] == 2
    assert meta["name"] == "t1"
    assert RFC3339.match(meta["created_at"]), meta
    assert RFC3339.match(meta["updated_at"]), meta
    assert meta["agent"] == {"command": agent[0], "args": [agent[1], "sleep=0.4"], "env": {}}
    assert meta["mode"] == "persistent"
    assert meta["provisional"] is False
    assert meta["description"] == "fix the login"


def test_unknown_task_yaml_keys_survive_a_rewrite(env: Env, agent: list[str]) -> None:
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    path = env.task_dir("t1") / "task.yaml"
    meta = yaml.safe_load(path.read_text())
    meta["updated_at"] = "2020-01-01T00:00:00Z"
    meta["x_editor"] = {"color": "blue", "pinned": True}
    path.write_text(yaml.safe_dump(meta))
    proc = env.run("resume", "t1")
    assert proc.returncode == 0, proc.stderr
    after = env.task_yaml("t1")
    assert after["x_editor"] == {"color": "blue", "pinned": True}
    assert after["updated_at"] != "2020-01-01T00:00:00Z", "a launch bumps updated_at"
    env.records("t1", 2)


# -- home and config paths ---------------------------------------------------------------------


def test_home_is_ctask_home_when_set(env: Env, agent: list[str]) -> None:
    env.new_detached("t1", agent, "sleep=30")
    status = env.json("status", "t1")
    assert status["workspace"] == str(env.ctask_home / "tasks" / "t1" / "work")
    assert not (env.root / "xdg-data" / "ctask").exists()


def test_home_falls_back_to_xdg_data_home(env: Env, agent: list[str]) -> None:
    proc = env.run("new", "t1", "--detach", "--agent", agent[0], "--", agent[1], "sleep=30", env={"CTASK_HOME": ""})
    assert proc.returncode == 0, proc.stderr
    assert (env.root / "xdg-data" / "ctask" / "tasks" / "t1" / "task.yaml").is_file()


def test_home_falls_back_to_local_share_without_xdg(env: Env, agent: list[str]) -> None:
    unset = {"CTASK_HOME": "", "XDG_DATA_HOME": ""}
    proc = env.run("new", "t1", "--detach", "--agent", agent[0], "--", agent[1], "sleep=30", env=unset)
    assert proc.returncode == 0, proc.stderr
    assert (env.home / ".local" / "share" / "ctask" / "tasks" / "t1" / "task.yaml").is_file()
    assert not env.ctask_home.exists()
    assert not (env.root / "xdg-data" / "ctask").exists()


def test_config_comes_from_ctask_config_before_xdg_config_home(env: Env) -> None:
    xdg_config = env.root / "xdg-config" / "ctask" / "config.yaml"
    xdg_config.parent.mkdir(parents=True)
    xdg_config.write_text(yaml.safe_dump({"agent": {"command": "agent-from-xdg-config"}}))
    env.config_path.write_text(yaml.safe_dump({"agent": {"command": "agent-from-ctask-config"}}))

    proc = env.run("new", "t1")
    assert proc.returncode == 1
    assert "agent command 'agent-from-ctask-config' not found on PATH" in proc.stderr

    proc = env.run("new", "t1", env={"CTASK_CONFIG": ""})
    assert proc.returncode == 1
    assert "agent command 'agent-from-xdg-config' not found on PATH" in proc.stderr
    assert not (env.ctask_home / "tasks" / "t1").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("agent: [unclosed\n", "is not valid YAML"),
        ("- a list\n", "must be a mapping of settings"),
        ("heartbeat_interval: -1\n", "heartbeat_interval must be a number of seconds from 0.01 to 3600"),
        ("no_such_setting: 1\n", "unknown setting 'no_such_setting'"),
    ],
)
def test_a_broken_config_file_is_reported_with_its_path(env: Env, text: str, message: str) -> None:
    env.config_path.write_text(text)
    proc = env.run("list")
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"ctask: error: config {env.config_path}"), proc.stderr
    assert message in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert env.config_path.read_text() == text


# -- atomic writes and the write lock ------------------------------------------------------------


def test_atomic_write_readers_see_old_or_new_never_half(tmp_path: Path) -> None:
    path = tmp_path / "task.yaml"
    old, new = b"a" * 300_000, b"b" * 150_000
    atomic_write(path, old)
    seen: set[int] = set()
    torn: list[int] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            data = path.read_bytes()
            seen.add(len(data))
            if data not in (old, new):
                torn.append(len(data))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(150):
            atomic_write(path, new if i % 2 else old)
    finally:
        done.set()
        thread.join()
    assert torn == []
    assert seen <= {len(old), len(new)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["task.yaml"], "no temporary file may be left behind"


def test_require_lock_raises_lock_timeout_while_another_holder_has_it(tmp_path: Path) -> None:
    lock = tmp_path / "write.lock"
    with write_lock(lock, 1) as held:
        assert held
        with write_lock(lock, 0.2) as second:
            assert second is False, "a lock that cannot be had is reported as skipped"
        start = time.monotonic()
        expected = r"could not lock .*write.lock within 0.3s to write x; .*try again"
        with pytest.raises(LockTimeout, match=expected), require_lock(lock, 0.3, what="write x"):
            pass
        assert time.monotonic() - start >= 0.3
    with require_lock(lock, 0.3, what="write x"):
        pass


def test_repair_says_try_again_when_the_write_lock_is_held(env: Env, agent: list[str]) -> None:
    env.write_config({"lock_timeout": 0.5})
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    with filelock.FileLock(str(env.task_dir("t1") / "write.lock")):
        proc = env.run("repair", "t1")
    assert proc.returncode == 1
    assert proc.stderr.startswith("ctask: error: could not lock "), proc.stderr
    assert "within 0.5s to repair the task; another ctask is writing it, try again" in proc.stderr


def test_launch_cannot_take_the_lease_while_the_write_lock_is_held(env: Env, agent: list[str]) -> None:
    env.write_config({"lock_timeout": 0.5})
    assert env.new("t1", agent, "sleep=0.4").returncode == 0
    task_yaml = env.read_control("t1", "task.yaml")
    with filelock.FileLock(str(env.task_dir("t1") / "write.lock")):
        proc = env.run("resume", "t1")
    assert proc.returncode == 1
    assert proc.stderr.startswith("ctask: error: could not lock "), proc.stderr
    assert "within 0.5s to take the lease; another ctask is writing it, try again" in proc.stderr
    assert env.lease("t1") is None
    assert env.read_control("t1", "task.yaml") == task_yaml
    assert env.tmux_sessions() == []
    env.records("t1", 1)


def test_adopter_falls_back_to_passive_with_one_warning_when_lock_is_held(env: Env, agent: list[str]) -> None:
    env.write_config({"lock_timeout": 0.5})
    env.new_detached("t1", agent, "wait=go")
    task_yaml = env.read_control("t1", "task.yaml")
    with filelock.FileLock(str(env.task_dir("t1") / "write.lock")):
        proc = env.run("attach", "t1")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, proc.stderr
    assert "could not lock task t1 to adopt it; attaching passively" in warnings[0]
    assert "not attaching: no terminal" in proc.stdout
    assert env.lease("t1") is None, "the adopter must not write a lease it could not lock for"
    assert env.read_control("t1", "task.yaml") == task_yaml
    assert "adopted" not in env.event_kinds("t1")

    # Without the lock held, the same command adopts.
    owner = env.spawn("attach", "t1")
    retry_until(lambda: (env.lease("t1") or {}).get("pid") == owner.pid)
    env.go("t1")
    code, out, err = env.finish(owner)
    assert code == 0, err
    assert "adopted" in out
    env.records("t1", 1)
