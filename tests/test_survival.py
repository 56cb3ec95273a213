"""Profiles, and sessions that outlive a logout and the tmux server (SPEC 3.11, 3.12), through the real CLI.

The agents are the test agents that keep Claude Code's and Codex's real
contracts (tests/agents): launched by name, wired by their profile, and
recording the arguments each run was started with (``$FAKE_AGENT_ARGV``),
so a test sees exactly what ``ctask resume`` passed.  "The tmux server went
away" is ``tmux kill-server``: a reboot, as far as ctask can tell.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest

from tests.helpers import Env, processes, retry_until
from tests.test_activity import reaches, type_line

pytestmark = pytest.mark.timeout(120)


def runs(env: Env, agent: str) -> list[list[str]]:
    """The arguments of each run of ``agent``, in order (ctask's wiring included)."""
    try:
        lines = Path(env.vars["FAKE_AGENT_ARGV"]).read_text().splitlines()
    except FileNotFoundError:
        return []
    return [r["argv"] for r in map(json.loads, lines) if r["agent"] == agent]


def hook_calls(env: Env, event: str) -> list[dict[str, t.Any]]:
    try:
        lines = Path(env.vars["FAKE_AGENT_LOG"]).read_text().splitlines()
    except FileNotFoundError:
        return []
    return [r for r in map(json.loads, lines) if r.get("event") == event]


def kill_tmux_server(env: Env) -> None:
    assert env.tmux("kill-server").returncode == 0
    retry_until(lambda: env.tmux("list-sessions").returncode != 0, 10)


def conversation_of(env: Env, name: str) -> str:
    return str(retry_until(lambda: env.json("status", name).get("conversation_id"), 20))


# -- profiles ---------------------------------------------------------------------------------------


def test_profiles_lists_built_in_and_config_profiles_with_where_each_came_from(env: Env) -> None:
    env.write_config(
        {
            "profiles": {
                "claude": {"args": ["--model", "opus"]},
                "mine": {"commands": ["my-agent"], "hooks": "claude", "resume": ["--continue", "{id}"]},
            }
        }
    )
    shown = {p["name"]: p for p in env.json("profiles")}
    assert set(shown) == {"claude", "codex", "aider", "gemini", "opencode", "generic", "mine"}
    assert shown["claude"] == {
        "name": "claude",
        "commands": ["claude"],
        "hooks": "claude",
        "resume": ["--resume", "{id}"],
        "args": ["--model", "opus"],
        "source": "built-in + config",
    }
    assert shown["codex"]["resume"] == ["resume", "{id}"] and shown["codex"]["source"] == "built-in"
    assert shown["mine"]["source"] == "config" and shown["generic"]["hooks"] == "none"
    table = env.run("profiles", check=True).stdout.splitlines()
    assert table[0].split() == ["PROFILE", "COMMANDS", "HOOKS", "RESUME", "ARGS", "FROM"]
    assert any(line.split()[:3] == ["mine", "my-agent", "claude"] for line in table)


@pytest.mark.parametrize(
    ("profiles", "said"),
    [
        ({"claude": {"hooks": "bash -c evil"}}, "profiles.claude.hooks must be one of claude, codex, none"),
        ({"x": {"resume": ["--resume"]}}, "profiles.x.resume must contain {id}"),
        ({"x": {"commandz": ["x"]}}, "profiles.x: unknown key 'commandz'"),
        ({"Bad Name": {}}, "a profile name is lower-case letters"),
        ({"x": {"commands": ["/bin/x"]}}, "base names of commands"),
        ("claude", "profiles must be a mapping"),
    ],
)
def test_a_bad_profile_is_one_line_that_says_what_to_fix(env: Env, profiles: t.Any, said: str) -> None:
    env.write_config({"profiles": profiles})
    proc = env.run("profiles")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and said in proc.stderr and "config" in proc.stderr


def test_a_profile_chosen_by_name_wires_hooks_and_fixed_arguments(agents: Env) -> None:
    """``profile:`` in config.yaml names a user profile: the agent (found by another name) gets its hooks and
    its fixed arguments before the task's own."""
    env = agents
    claude = Path(env.vars["PATH"].split(":")[0]) / "claude"
    (claude.parent / "my-agent").symlink_to(claude)
    env.write_config({"profiles": {"mine": {"hooks": "claude", "args": ["--fixed"]}}, "profile": "mine"})
    env.new_detached("t1", ["my-agent"], "--own")
    argv = retry_until(lambda: runs(env, "claude"), 10)[0]
    settings = str(env.task_dir("t1") / "claude-settings.json")
    assert argv == ["--settings", settings, "--fixed", "--own"]
    reaches(env, "t1", "idle")  # its SessionStart hook reported through the wiring
    env.write_config({"profile": "nope"})
    proc = env.run("list")
    assert proc.returncode == 1 and "'nope' is not a profile" in proc.stderr


# -- the tmux server goes away ----------------------------------------------------------------------


def test_after_the_tmux_server_went_away_resume_carries_claudes_conversation_on(agents: Env) -> None:
    env = agents
    env.new_detached("t1", ["claude"])
    conversation = conversation_of(env, "t1")
    type_line(env, "t1", "prompt hello")
    reaches(env, "t1", "working")
    before = time.time()
    kill_tmux_server(env)

    listed = {t["name"]: t for t in env.json("list")}  # the next command records what was running
    summary = listed["t1"]["last_summary"]
    assert summary is not None and summary["end_reason"] == "tmux_server_gone"
    recorded = env.summary("t1")
    assert recorded is not None and recorded["end_reason"] == "tmux_server_gone"
    ended = recorded["ended_at"]
    assert time.mktime(time.strptime(ended, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone <= before + 1, (
        "ended_at is the last heartbeat or hook event seen, not when it was noticed"
    )
    assert env.json("status", "t1")["conversation_id"] == conversation

    proc = env.run("resume", "t1", "--detach")
    assert proc.returncode == 0, proc.stderr
    assert f"resuming conversation {conversation} (--resume {conversation})" in proc.stderr
    argv = runs(env, "claude")[-1]
    assert argv[2:] == ["--resume", conversation], argv
    starts = retry_until(lambda: [c for c in hook_calls(env, "SessionStart") if c["session_id"] == conversation], 10)
    assert len(starts) == 2, "its SessionStart hook reported the resumed conversation"
    reaches(env, "t1", "idle")
    assert env.json("status", "t1")["conversation_id"] == conversation

    type_line(env, "t1", "quit")  # ended by the agent: the next resume starts a new conversation
    # Recorded by tmux's pane-died hook, or (when tmux 3.3 misses the exit) by the next command that looks.
    retry_until(lambda: (env.json("status", "t1")["last_summary"] or {}).get("end_reason") != "tmux_server_gone", 20)
    proc = env.run("resume", "t1", "--detach")
    assert proc.returncode == 0 and "resuming" not in proc.stderr
    assert "--resume" not in runs(env, "claude")[-1]


def test_clear_starts_a_new_conversation_whose_id_replaces_the_old(agents: Env) -> None:
    env = agents
    env.new_detached("t1", ["claude"])
    first = conversation_of(env, "t1")
    type_line(env, "t1", "clear")
    second = retry_until(lambda: (c := env.json("status", "t1")["conversation_id"]) != first and c, 20)
    assert [c["session_id"] for c in hook_calls(env, "SessionStart")] == [first, second]
    kill_tmux_server(env)
    assert env.run("resume", "t1", "--detach").returncode == 0
    assert runs(env, "claude")[-1][2:] == ["--resume", second], "the conversation after /clear goes on"


def test_after_the_tmux_server_went_away_resume_carries_codexs_thread_on(agents: Env) -> None:
    env = agents
    env.new_detached("t1", ["codex"])
    type_line(env, "t1", "prompt one turn")
    thread = conversation_of(env, "t1")
    kill_tmux_server(env)
    proc = env.run("resume", "t1", "--detach")  # no command in between: resume records the session first
    assert proc.returncode == 0, proc.stderr
    assert runs(env, "codex")[-1][-2:] == ["resume", thread]
    assert f"resuming conversation {thread} (resume {thread})" in proc.stderr
    assert env.json("log", "t1")[-1]["end_reason"] == "tmux_server_gone"


def test_without_a_conversation_id_resume_starts_afresh_and_says_so(agents: Env) -> None:
    env = agents
    env.new_detached("t1", ["bursty"])
    retry_until(lambda: env.tmux_alive("t1") or None, 10)
    kill_tmux_server(env)
    proc = env.run("resume", "t1", "--detach")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "starting afresh" in line]
    assert len(lines) == 1 and "no conversation id was recorded" in lines[0]
    assert env.json("log", "t1")[-1]["end_reason"] == "tmux_server_gone"


def test_a_resume_the_agent_refuses_needs_the_user_to_agree_to_a_fresh_start(agents: Env) -> None:
    env = agents
    env.new_detached("t1", ["claude"])
    conversation = conversation_of(env, "t1")
    kill_tmux_server(env)
    flag = env.root / "resume-fails"
    flag.write_text("")
    failing = {"FAKE_AGENT_RESUME_FAILS": str(flag)}
    proc = env.run("resume", "t1", "--detach", env=failing)  # no terminal to ask on: no fresh start
    assert proc.returncode == 1
    assert "did not resume its conversation" in proc.stderr and "--fresh" in proc.stderr
    assert f"No conversation found with session ID: {conversation}" in proc.stderr
    assert runs(env, "claude")[-1][-2:] == ["--resume", conversation]
    assert not env.tmux_alive("t1")

    proc = env.run("resume", "t1", "--detach", "--fresh", env=failing)
    assert proc.returncode == 0, proc.stderr
    assert "--resume" not in runs(env, "claude")[-1]
    assert env.tmux_alive("t1")


# -- logout -----------------------------------------------------------------------------------------


def _session_members(sid: int) -> list[int]:
    """Every process whose session id is ``sid`` (field 6 of /proc/PID/stat)."""
    # a zombie is gone, only not reaped yet
    return [pid for pid, fields in processes() if int(fields[3]) == sid and fields[0] != "Z"]


def test_a_logout_does_not_kill_the_agents(agents: Env) -> None:
    """``ctask new`` from a login session (a process in a session of its own); then the whole session gets a
    hang-up and is killed, as a logout does: the agent runs on, and the next command sees it adoptable."""
    env = agents
    login = subprocess.Popen(
        [sys.executable, "-m", "ctask_ls.cli", "new", "t1", "--agent", "bursty"],
        env=env.vars,
        cwd=env.root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    env.procs.append(t.cast("subprocess.Popen[str]", login))
    lease = retry_until(lambda: env.lease("t1"), 15)
    assert lease["pid"] == login.pid
    agent_pid = retry_until(lambda: (env.pane("t1") or {}).get("pid"), 10)
    for sig in (signal.SIGHUP, signal.SIGKILL):
        for pid in _session_members(login.pid):
            with contextlib.suppress(ProcessLookupError):  # gone since it was listed
                os.kill(pid, sig)
    login.wait(10)
    retry_until(lambda: _session_members(login.pid) == [], 5)
    time.sleep(0.5)
    os.kill(int(agent_pid), 0)  # still running
    shown = env.json("status", "t1")
    assert shown["tmux_alive"] is True
    assert shown["lease"]["state"] == "stale", "its owner is gone: the next resume or server adopts it"


def test_the_tmux_server_is_started_in_a_user_scope_where_a_user_manager_answers(agents: Env, tmp_path: Path) -> None:
    """Where systemd's user manager runs (not here: this stands in for it), the first launch starts the tmux
    server through ``systemd-run --user --scope``; the launches after it, with a server running, do not."""
    env = agents
    runtime = tmp_path / "runtime"
    (runtime / "systemd").mkdir(parents=True)
    (runtime / "systemd" / "private").write_text("")
    calls = tmp_path / "systemd-run.log"
    stand_in = Path(env.vars["PATH"].split(":")[0]) / "systemd-run"
    stand_in.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {calls}\n'
        'while [ "${1#--}" != "$1" ]; do shift; done\n'  # its options; then the command, run in place
        'exec "$@"\n'
    )
    stand_in.chmod(0o755)
    env.vars["XDG_RUNTIME_DIR"] = str(runtime)
    env.new_detached("t1", ["bursty"])
    env.new_detached("t2", ["bursty"])
    lines = calls.read_text().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("--user --scope --quiet --collect") and "new-session" in lines[0]
    assert env.tmux_alive("t1") and env.tmux_alive("t2")
