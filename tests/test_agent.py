"""Agent resolution (SPEC 3.3): precedence, the launched environment, argv passed verbatim."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

from tests.helpers import Env, retry_until


def _dump(env: Env, name: str, file: str = "dump.json") -> dict[str, t.Any]:
    return t.cast(dict[str, t.Any], json.loads(env.read(name, file)))


def _executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _nothing_named(root: Path, stem: str) -> list[str]:
    return [str(p) for p in root.rglob(f"{stem}*")]


def test_agent_comes_from_config_then_task_yaml_then_the_agent_flag(env: Env, agent: list[str]) -> None:
    env.write_config({"agent": {"command": agent[0], "args": [agent[1], "write=who.txt:config", "sleep=0.4"]}})
    proc = env.run("new", "t1")
    assert proc.returncode == 0, proc.stderr
    assert env.read("t1", "who.txt") == b"config"
    assert env.task_yaml("t1")["agent"]["args"] == [agent[1], "write=who.txt:config", "sleep=0.4"]

    # task.yaml wins over the config.
    path = env.task_dir("t1") / "task.yaml"
    meta = yaml.safe_load(path.read_text())
    meta["agent"]["args"] = [agent[1], "write=who.txt:task", "sleep=0.4"]
    path.write_text(yaml.safe_dump(meta))
    env.write_config({"agent": {"command": agent[0], "args": [agent[1], "write=who.txt:config-changed"]}})
    proc = env.run("resume", "t1")
    assert proc.returncode == 0, proc.stderr
    assert env.read("t1", "who.txt") == b"task"

    # --agent replaces the command only, for this launch only.
    bindir = env.root / "bin"
    _executable(bindir / "altpy", f'#!/bin/sh\necho alt > "$CTASK_WORKSPACE/which.txt"\nexec {sys.executable} "$@"\n')
    path_var = f"{bindir}{os.pathsep}{env.vars['PATH']}"
    proc = env.run("resume", "t1", "--agent", "altpy", env={"PATH": path_var})
    assert proc.returncode == 0, proc.stderr
    assert env.read("t1", "which.txt") == b"alt\n"
    assert env.read("t1", "who.txt") == b"task", "the task's arguments are kept with --agent"
    summary = env.summary("t1")
    assert summary is not None
    assert summary["agent"] == "altpy"
    assert env.task_yaml("t1")["agent"]["command"] == agent[0], "--agent is one-shot"
    env.records("t1", 3)


def test_agent_environment_is_caller_then_ctask_vars_then_agent_env(env: Env, agent: list[str]) -> None:
    env.write_config({"agent": {"command": agent[0], "env": {"FOO": "from-agent-env", "CTASK_MODE": "agent-wins"}}})
    caller = {"FOO": "from-caller", "BAR": "from-caller", "CTASK_TASK": "caller-bogus", "CTASK_SESSION_ID": "bogus"}
    proc = env.run("new", "t1", "--", agent[1], "dump=dump.json", "sleep=0.4", env=caller)
    assert proc.returncode == 0, proc.stderr
    seen = _dump(env, "t1")["env"]
    summary = env.summary("t1")
    assert summary is not None
    assert seen["FOO"] == "from-agent-env", "agent.env wins over the caller"
    assert seen["CTASK_MODE"] == "agent-wins", "agent.env wins over CTASK_*"
    assert seen["BAR"] == "from-caller"
    assert seen["CTASK_TASK"] == "t1", "CTASK_* win over the caller"
    assert seen["CTASK_SESSION_ID"] == summary["session_id"]
    assert seen["CTASK_WORKSPACE"] == str(env.tree("t1"))
    assert seen["CTASK_HOME"] == str(env.ctask_home)
    assert seen["HOME"] == str(env.home)
    assert _dump(env, "t1")["cwd"] == str(env.tree("t1"))
    assert env.task_yaml("t1")["agent"]["env"] == {"FOO": "from-agent-env", "CTASK_MODE": "agent-wins"}


ARGS = [
    "a b;$(touch pwned)",
    "`touch pwned-backtick`",
    "x; touch pwned-semicolon",
    "",
    "*",
    "'single'",
    '"double"',
    "$HOME",
    "line1\nline2",
    "--not-a-flag",
    "-e",
    "#comment",
    "~",
    "{}",
]


def test_agent_arguments_arrive_verbatim_and_nothing_is_executed(env: Env, agent: list[str]) -> None:
    proc = env.run("new", "t1", "--agent", agent[0], "--", agent[1], "dump=dump.json", *ARGS, "sleep=0.4")
    assert proc.returncode == 0, proc.stderr
    assert _dump(env, "t1")["argv"] == ["dump=dump.json", *ARGS, "sleep=0.4"]
    assert env.task_yaml("t1")["agent"]["args"] == [agent[1], "dump=dump.json", *ARGS, "sleep=0.4"]
    assert _nothing_named(env.root, "pwned") == []
    assert _nothing_named(Path.cwd(), "pwned") == []
    assert not Path("/tmp/pwned").exists()


# tmux reads an argument ending in ';' as a command separator (and '\\;' as an escaped one).
TMUX_SEPARATORS = [";", "ends-with;", "escaped\\;", "two;;"]


def test_arguments_that_look_like_tmux_separators_arrive_verbatim(env: Env, agent: list[str]) -> None:
    proc = env.run("new", "t1", "--agent", agent[0], "--", agent[1], "dump=dump.json", *TMUX_SEPARATORS, "sleep=0.4")
    assert proc.returncode == 0, proc.stderr
    assert _dump(env, "t1")["argv"] == ["dump=dump.json", *TMUX_SEPARATORS, "sleep=0.4"]


def test_caller_variable_ending_in_a_semicolon_reaches_the_agent(env: Env, agent: list[str]) -> None:
    caller = {"PROMPT_COMMAND": "history -a;", "ESCAPED": "x\\;"}
    proc = env.run("new", "t1", "--agent", agent[0], "--", agent[1], "dump=dump.json", "sleep=0.4", env=caller)
    assert proc.returncode == 0, proc.stderr
    seen = _dump(env, "t1")["env"]
    assert seen["PROMPT_COMMAND"] == "history -a;"
    assert seen["ESCAPED"] == "x\\;"


def test_one_word_agent_path_with_shell_characters_is_not_run_by_a_shell(env: Env) -> None:
    odd_dir = env.root / "my agents;$(touch pwned)"
    script = _executable(
        odd_dir / "agent",
        f"#!{sys.executable}\nimport os, time, pathlib\n"
        "pathlib.Path(os.environ['CTASK_WORKSPACE'], 'ran.txt').write_text('yes')\ntime.sleep(0.4)\n",
    )
    proc = env.run("new", "t1", "--agent", str(script))
    assert proc.returncode == 0, proc.stderr
    assert env.read("t1", "ran.txt") == b"yes"
    assert _nothing_named(env.root, "pwned") == []
    summary = env.summary("t1")
    assert summary is not None
    assert summary["agent"] == str(script)


def test_agent_is_the_panes_own_process(env: Env, agent: list[str]) -> None:
    owner = env.spawn_new("t1", agent, "dump=dump.json", "wait=go")
    pane = env.pane("t1")
    assert pane is not None
    retry_until(lambda: (env.tree("t1") / "dump.json").exists())
    with open(f"/proc/{pane['pid']}/cmdline", "rb") as fh:
        cmdline = fh.read().split(b"\0")
    assert cmdline[1] == agent[1].encode(), f"no shell or env(1) may be left behind the agent: {cmdline}"
    assert _dump(env, "t1")["pid"] == pane["pid"]
    env.go("t1")
    code, _out, err = env.finish(owner)
    assert code == 0, err
    env.records("t1", 1)


@pytest.mark.parametrize("mode", ["persistent", "direct"])
def test_the_agent_starts_with_signals_as_from_a_shell(env: Env, mode: str) -> None:
    """ctask's own Python ignores SIGPIPE: the agent must not inherit that (a shell agent cannot undo it)."""
    env.write_config({"mode": mode})
    script = "yes 2> err.txt | head -n1 > out.txt; grep SigIgn /proc/self/status > ign.txt"
    proc = env.run("new", "t1", "--agent", "sh", "--", "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert env.read("t1", "out.txt") == b"y\n"
    assert env.read("t1", "err.txt") == b"", "yes(1) saw a broken pipe instead of SIGPIPE"
    ignored = int(env.read("t1", "ign.txt").split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1) | 1 << (signal.SIGXFSZ - 1)), hex(ignored)


def _start_tmux_server(env: Env, environment: dict[str, str]) -> None:
    subprocess.run(
        ["tmux", "-S", env.socket, "new-session", "-d", "-s", "someone-else", "sleep 300"],
        env=environment,
        stdin=subprocess.DEVNULL,
        check=True,
        capture_output=True,
    )


def test_session_sees_its_launchers_environment_not_the_tmux_servers(env: Env, agent: list[str]) -> None:
    _start_tmux_server(
        env, {"PATH": env.vars["PATH"], "HOME": "/nonexistent-home-a", "SHARED": "from-server-start", "LANG": "C"}
    )
    launcher = {"SHARED": "from-launcher", "ONLY_LAUNCHER": "yes"}
    proc = env.run("new", "t1", "--agent", agent[0], "--", agent[1], "dump=dump.json", "sleep=0.4", env=launcher)
    assert proc.returncode == 0, proc.stderr
    seen = _dump(env, "t1")["env"]
    assert seen["SHARED"] == "from-launcher"
    assert seen["ONLY_LAUNCHER"] == "yes"
    assert seen["HOME"] == str(env.home)
    assert seen["LANG"] == env.vars["LANG"]
    assert seen["CTASK_TASK"] == "t1"


def test_variables_of_whoever_started_the_tmux_server_do_not_leak_into_sessions(env: Env, agent: list[str]) -> None:
    # The first ctask starts the dedicated tmux server from its environment...
    first = {"TMPDIR": str(env.root), "LC_ALL": "C.UTF-8"}
    proc = env.run("new", "first", "--detach", "--agent", agent[0], "--", agent[1], "sleep=30", env=first)
    assert proc.returncode == 0, proc.stderr
    # ...a later launch from an environment without those variables must not see them.
    proc = env.run("new", "t1", "--agent", agent[0], "--", agent[1], "dump=dump.json", "sleep=0.4")
    assert proc.returncode == 0, proc.stderr
    seen = _dump(env, "t1")["env"]
    leaked = {k: seen[k] for k in first if k in seen}
    assert leaked == {}, f"the agent inherited the environment of the process that started tmux: {leaked}"
