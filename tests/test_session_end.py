"""The end of a session, as a user at a real terminal sees it (SPEC 3.5 steps 5-6).

* An agent that exits while a terminal is attached: the owner records the
  session at once and removes the dead pane, so the terminal (the CLI's own,
  or an editor's attached to a session the CLI owns) returns by itself.
* ``ended_at`` is when the agent ended (tmux's ``pane_dead_time``), however
  late the session is recorded.
* An agent that exits 0 at once has done its job: a session like any other.
  One that fails at once keeps what it wrote; ctask deletes nothing it wrote.
* Last screen lines carry no control characters or lone ``^@`` junk.
* The editor's own variables never reach an agent.

The terminals are real: a pty pair, with ``tmux attach`` running on its slave side.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
import typing as t
from pathlib import Path

import pytest
import yaml

from tests.helpers import Env, retry_until


class Terminal:
    """A process on the slave side of a real pty (80x24), its screen bytes collected by a thread."""

    def __init__(self, argv: t.Sequence[str], env: dict[str, str], cwd: Path) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.master = master
        self.output = bytearray()
        self.proc = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "xterm-256color"},
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every slave side closed
                return
            if not chunk:
                return
            self.output += chunk

    def text(self) -> str:
        return bytes(self.output).decode("utf-8", "replace")

    def wait(self, seconds: float) -> int | None:
        """The exit status, or None if it still runs after ``seconds`` (a hang guard, not a timing)."""
        try:
            return self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
            self.proc.wait(5)
        self._reader.join(2)
        with contextlib.suppress(OSError):
            os.close(self.master)


@pytest.fixture
def terminals() -> t.Iterator[list[Terminal]]:
    made: list[Terminal] = []
    yield made
    for term in made:
        term.close()


def _ctask_in_terminal(env: Env, terminals: list[Terminal], *args: str) -> Terminal:
    term = Terminal([sys.executable, "-m", "ctask_ls.cli", *args], env.vars, env.root)
    terminals.append(term)
    return term


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def test_agent_exit_while_attached_records_the_session_and_gives_the_terminal_back(
    env: Env, terminals: list[Terminal]
) -> None:
    env.write_config({"poll_interval": 60})  # the owner must learn of the exit from tmux, not from its next look
    term = _ctask_in_terminal(
        env, terminals, "new", "t1", "--agent", "sh", "--", "-c", "sleep 1.5; echo bye > done.txt; date +%s > end.txt"
    )
    # Before, the user was left on tmux's dead pane until they pressed C-b d: this waited forever.
    status = term.wait(20)
    panes = env.tmux("list-panes", "-a", "-F", "#{session_name} dead=#{pane_dead} #{pane_current_command}").stdout
    assert status == 0, (
        f"ctask did not return by itself after the agent exited; panes: {panes!r}; events: {env.event_kinds('t1')}; "
        f"files: {sorted(p.name for p in env.tree('t1').iterdir())}; screen: {term.text()[-300:]!r}"
    )
    assert "session" in term.text() and "ended: agent_exited, exit status 0" in term.text()
    assert "+ done.txt" in term.text()
    summary = env.summary("t1")
    assert summary is not None
    assert summary["session_ownership"] == "owned"
    assert summary["detected_via"] == "polling"
    ended_at = _parse(summary["ended_at"]).timestamp()
    agent_end = int(env.read("t1", "end.txt"))
    assert abs(ended_at - agent_end) <= 2, (summary["ended_at"], agent_end)
    assert summary["duration_s"] <= 3, summary
    assert env.tmux_sessions() == [], "the dead pane was removed"
    assert env.lease("t1") is None
    env.records("t1", 1)


def test_an_editor_terminal_attached_to_a_cli_owned_session_returns_when_the_agent_exits(
    env: Env, terminals: list[Terminal]
) -> None:
    # The CLI owns the session without a terminal (as after C-b d); an editor attaches with the terminal spec.
    env.write_config({"poll_interval": 60})
    owner = env.spawn("new", "t1", "--agent", "sh", "--", "-c", "sleep 2; date +%s > end.txt")
    env.wait_owned("t1", owner)
    spec = env.json("status", "t1")
    assert spec["tmux_alive"]
    editor = Terminal(["tmux", "-S", env.socket, "attach-session", "-t", f"={env.tmux_name('t1')}"], env.vars, env.root)
    terminals.append(editor)
    retry_until(lambda: env.tmux("list-clients", "-F", "#{client_tty}").stdout.strip(), 10)
    assert editor.wait(20) is not None, "the editor's terminal was left on a dead pane"
    code, _out, err = env.finish(owner)
    assert code == 0, err
    summary = env.summary("t1")
    assert summary is not None and summary["end_reason"] == "agent_exited"
    assert abs(_parse(summary["ended_at"]).timestamp() - int(env.read("t1", "end.txt"))) <= 2
    env.records("t1", 1)


def test_ended_at_is_when_a_detached_agent_ended_not_when_it_was_noticed(env: Env) -> None:
    started = time.time()
    agent = "while [ ! -e go ]; do sleep 0.05; done; date +%s > end.txt"
    proc = env.run("new", "t1", "--detach", "--agent", "sh", "--", "-c", agent)
    assert proc.returncode == 0, proc.stderr
    # Nobody records it at once: no reaper (its pane-died hook is gone), no owner; tmux still sees the exit.
    assert env.tmux("set-hook", "-u", "-t", f"={env.tmux_name('t1')}:", "pane-died").returncode == 0
    env.go("t1")
    retry_until(lambda: (env.tree("t1") / "end.txt").exists() and not env.tmux_alive("t1"), 15)
    # tmux 3.3 now and then misses the SIGCHLD (then nobody would know when): the agent's exit watcher makes
    # it reap the agent (ctask_ls/core/execagent.py)
    pane = retry_until(lambda: (p := env.pane("t1")) is not None and p["status"] is not None and p, 5)
    assert pane["status"] == 0
    time.sleep(3)  # nobody looks for a while; the record must still say when the agent ended
    assert env.sessions("t1") == []
    listed = env.json("list")
    assert listed[0]["last_summary"]["end_reason"] == "ended_unowned"
    summary = env.summary("t1")
    assert summary is not None
    agent_end = int(env.read("t1", "end.txt"))
    assert abs(_parse(summary["ended_at"]).timestamp() - agent_end) <= 1, (summary["ended_at"], agent_end)
    assert summary["duration_s"] <= agent_end - int(started) + 1, summary  # both ends in whole seconds
    assert env.sessions("t1")[0]["ended_at"] == summary["ended_at"]


def test_a_stopped_session_ends_when_it_was_stopped(env: Env) -> None:
    proc = env.run("new", "t1", "--detach", "--agent", "sh", "--", "-c", "sleep 60")
    assert proc.returncode == 0, proc.stderr
    before = time.time()
    stopped = env.json("stop", "t1")
    assert stopped["finalized"] and stopped["summary"]["end_reason"] == "stopped"
    ended = _parse(stopped["summary"]["ended_at"]).timestamp()
    assert before - 1 <= ended <= time.time() + 1


def test_an_agent_that_succeeds_at_once_is_a_session_with_its_diff(env: Env) -> None:
    proc = env.run("new", "t1", "--agent", "sh", "--", "-c", "echo result > out.txt")
    assert proc.returncode == 0, proc.stderr
    assert "right after it started" not in proc.stderr
    assert "ended: agent_exited, exit status 0" in proc.stdout
    assert "+ out.txt" in proc.stdout
    assert env.read("t1", "out.txt") == b"result\n"
    summary = env.summary("t1")
    assert summary is not None and summary["added"] == ["out.txt"] and summary["exit_status"] == 0
    assert env.task_yaml("t1")["provisional"] is False
    assert env.tmux_sessions() == []
    env.records("t1", 1)


def test_an_agent_that_succeeds_at_once_detached_is_recorded_by_the_next_look(env: Env) -> None:
    proc = env.run("new", "t1", "--detach", "--agent", "sh", "--", "-c", "echo result > out.txt")
    assert proc.returncode == 0, proc.stderr
    assert env.json("list")[0]["last_summary"]["counts"]["added"] == 1
    assert env.read("t1", "out.txt") == b"result\n"
    env.records("t1", 1)


def test_an_agent_that_fails_at_once_after_writing_keeps_its_files_and_its_session(env: Env) -> None:
    proc = env.run("new", "t1", "--agent", "sh", "--", "-c", "echo partial > notes.txt; echo oops; exit 3")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ctask: error: agent 'sh' exited with status 3 right after it started (last output: oops)")
    assert "kept in task t1 and recorded as a session: see `ctask diff t1`" in last
    assert env.read("t1", "notes.txt") == b"partial\n", "ctask deleted a file the agent wrote"
    meta = env.task_yaml("t1")
    assert meta["provisional"] is False
    summary = env.summary("t1")
    assert summary is not None and summary["exit_status"] == 3 and summary["added"] == ["notes.txt"]
    assert summary["last_lines"][-1] == "oops"
    assert env.tmux_sessions() == []
    assert env.lease("t1") is None
    env.records("t1", 1)
    # The task is an ordinary one now: its diff and a new session work.
    assert env.json("diff", "t1")["added"] == ["notes.txt"]


def test_last_lines_hold_no_control_characters_or_lone_nul_marks(env: Env) -> None:
    script = "printf 'first\\n^@\\n\\000\\n\\033]0;title\\007tail \\001x\\n'; sleep 0.6; exit 4"
    proc = env.run("new", "t1", "--agent", "sh", "--", "-c", script)
    assert proc.returncode == 0, proc.stderr
    summary = env.summary("t1")
    assert summary is not None
    lines = summary["last_lines"]
    assert lines[0] == "first" and lines[-1] == "tail x", lines
    assert "^@" not in lines
    assert all(ch >= " " for line in lines for ch in line), lines


def test_editor_variables_do_not_reach_the_agent_but_agent_env_wins(env: Env, agent: list[str]) -> None:
    editor = {
        "NVIM": "/tmp/nvim.sock",
        "NVIM_LISTEN_ADDRESS": "/tmp/nvim.sock",
        "VIMRUNTIME": "/usr/share/nvim/runtime",
        "MYVIMRC": "/home/u/.config/nvim/init.lua",
        "VSCODE_IPC_HOOK_CLI": "/tmp/vscode.sock",
        "VSCODE_GIT_IPC_HANDLE": "/tmp/vscode-git.sock",
        "ELECTRON_RUN_AS_NODE": "1",
        "MY_OWN_VARIABLE": "kept",
    }
    proc = env.run("new", "t1", "--agent", agent[0], "--", agent[1], "dump=env.json", env={**env.vars, **editor})
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(env.read("t1", "env.json"))["env"]
    assert seen["MY_OWN_VARIABLE"] == "kept"
    leaked = sorted(k for k in editor if k in seen and k != "MY_OWN_VARIABLE")
    assert leaked == []
    # A user who wants one of them in the agent says so in agent.env.
    path = env.task_dir("t1") / "task.yaml"
    meta = env.task_yaml("t1")
    meta["agent"]["env"] = {"NVIM": "/wanted"}
    path.write_text(yaml.safe_dump(meta))
    proc = env.run("resume", "t1", env={**env.vars, **editor})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(env.read("t1", "env.json"))["env"]["NVIM"] == "/wanted"
