"""Issue 14, "The caller's whole environment and agent.env go on tmux's command line" (SPEC 3.3 and 9).

Another local user read ``GITHUB_TOKEN`` and ``ANTHROPIC_API_KEY`` from the
tmux server's ``/proc/PID/cmdline``: the first ``new-session`` client passed
every variable as ``-e NAME=VALUE``, and the server it started keeps that
command line for its whole life.  Now the values reach the agent through a
0600 file that its launcher reads and removes; no command line holds one.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from ctask_ls.core import tmux as tmux_module
from ctask_ls.core.tmux import Tmux
from tests.helpers import Env, retry_until

pytestmark = pytest.mark.timeout(120)


def command_lines() -> dict[int, bytes]:
    """Every process's command line, as any local user reads it (``ps``, ``/proc/PID/cmdline``)."""
    found: dict[int, bytes] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    found[int(entry)] = fh.read()
            except OSError:  # gone meanwhile
                continue
    return found


def dumped(root: Path, name: str) -> dict[str, t.Any] | None:
    """The record the test agent's ``dump=NAME`` wrote somewhere under ``root``, once it is there."""
    for path in root.rglob(name):
        try:
            return t.cast(dict[str, t.Any], json.loads(path.read_text()))
        except ValueError:  # being written
            return None
    return None


def test_no_environment_value_is_on_any_command_line(env: Env, agent: list[str]) -> None:
    from_config = "cfg-" + secrets.token_hex(16)
    github, anthropic = "ghp-" + secrets.token_hex(16), "sk-ant-" + secrets.token_hex(16)
    env.write_config({"agent": {"command": "sh", "args": [], "env": {"AGENT_SECRET": from_config}}})
    proc = env.run(
        "new",
        "t1",
        "--detach",
        "--agent",
        agent[0],
        "--",
        *agent[1:],
        "dump=env.json",
        "wait=go",
        env={"GITHUB_TOKEN": github, "ANTHROPIC_API_KEY": anthropic},
    )
    assert proc.returncode == 0, proc.stderr
    record = retry_until(lambda: dumped(env.task_dir("t1"), "env.json"))
    # the agent runs (waiting for "go") and got all three, from its caller and from agent.env
    assert record["env"]["GITHUB_TOKEN"] == github
    assert record["env"]["ANTHROPIC_API_KEY"] == anthropic
    assert record["env"]["AGENT_SECRET"] == from_config
    assert env.tmux_alive("t1")

    lines = command_lines()
    socket = env.socket.encode()
    assert any(socket in line and b"new-session" in line for line in lines.values()), (
        "the tmux server started by ctask keeps its first client's command line: the scan must see it"
    )
    for value in (github, anthropic, from_config):
        leaks = {pid: line.replace(b"\0", b" ") for pid, line in lines.items() if value.encode() in line}
        assert not leaks, f"an environment value is on a command line: {leaks}"
    # the file the values went through is gone once the launcher read it
    left = [p for p in env.ctask_home.rglob("*") if "launch.env" in p.name]
    assert left == []


def test_environment_file_is_private_while_it_exists_and_never_written_through_a_link(
    env: Env, agent: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the umask, the file tmux's launcher reads is the user's alone, and a planted link is not followed."""
    control = tmp_path / "control"
    control.mkdir()
    env_file = control / "launch.env"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("untouched")
    env_file.symlink_to(elsewhere)  # what an attacker who could write there would plant
    secret = "tok-" + secrets.token_hex(16)
    seen: list[tuple[int, bool, list[str]]] = []
    real_run = subprocess.run

    def spy(cmd: list[str], *args: t.Any, **kwargs: t.Any) -> t.Any:
        if "new-session" in cmd:
            st = os.lstat(env_file)
            seen.append((stat.S_IMODE(st.st_mode), stat.S_ISREG(st.st_mode), list(cmd)))
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    old_umask = os.umask(0)
    try:
        Tmux(env.socket).new_session(
            "ctask-private",
            [*agent, "dump=env.json", "wait=go"],
            cwd=str(tmp_path),
            env={"CTASK_WORKSPACE": str(tmp_path), "API_TOKEN": secret},
            env_file=env_file,
            session_id="sid-1",
        )
    finally:
        os.umask(old_umask)
    (mode, regular, cmd) = seen[0]
    assert regular and mode == 0o600, f"the environment file was {oct(mode)} when tmux started"
    assert not any(secret in arg for arg in cmd)
    assert elsewhere.read_text() == "untouched"
    record = retry_until(lambda: dumped(tmp_path, "env.json"))
    assert record["env"]["API_TOKEN"] == secret
    assert not env_file.exists() and not env_file.is_symlink()
    assert [p.name for p in control.iterdir()] == [], "no temporary file is left behind"


def test_launcher_refuses_an_environment_file_that_is_not_a_regular_file(tmp_path: Path) -> None:
    """A FIFO or link in place of the file is reported, never followed, and never hangs the pane."""
    fifo = tmp_path / "fifo.env"
    os.mkfifo(fifo)
    link = tmp_path / "link.env"
    target = tmp_path / "target.env"
    target.write_text(json.dumps({"X": "1"}))
    link.symlink_to(target)
    for bad in (fifo, link):
        proc = subprocess.run(
            [sys.executable, "-I", tmux_module._EXECAGENT, str(bad), "/bin/true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 127, proc.stderr
        assert "cannot read the agent's environment" in proc.stderr
    assert target.exists(), "the link's target is never removed"
