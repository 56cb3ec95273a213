"""``ctask hook`` never hurts the agent that runs it, and nothing that runs it can make it write elsewhere (SPEC 3.10).

The hook is run by the agent, with whatever the agent (or anything else)
gives it: garbage on stdin, an old session's id, no ``CTASK_*`` variables, a
stdin that never closes, while ctask holds the task's write lock, with a
link, a FIFO or a directory planted where it writes.  Each time: exit 0,
nothing printed, back within a couple of seconds, and nothing corrupted
(``activity.json`` is either untouched or a fresh, valid, private file).
Every call is the exact command line ``core/wiring.py`` gives the agents.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import typing as t
from pathlib import Path

import filelock
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctask_ls.core import hook, wiring
from ctask_ls.core.workspace import NAME_RE
from tests.helpers import Env

pytestmark = pytest.mark.timeout(120)

QUICK = 5.0
"""Seconds a hook call may take here, loaded machine included (it takes milliseconds; a stdin left open, 2 s)."""
ASKED = {
    "session_id": "0b7c6f0e-claude-conversation",
    "transcript_path": "/tmp/x.jsonl",
    "cwd": "/tmp",
    "hook_event_name": "PermissionRequest",
    "tool_name": "Bash",
    "tool_input": {"command": "rm -rf build"},
}


class Called(t.NamedTuple):
    status: int
    out: bytes
    err: bytes
    seconds: float


def running(env: Env, agent: list[str]) -> str:
    """Task t1 running detached (its agent waits); its session id."""
    env.new_detached("t1", agent, "wait=go")
    return (env.task_dir("t1") / "launched").read_text().strip()


def hook_env(env: Env, session_id: str | None, task: str = "t1") -> dict[str, str]:
    """The variables the agent of task t1 gives its hooks (None: none of them)."""
    base = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(env.home)}
    if session_id is None:
        return base
    return {**base, "CTASK_HOME": str(env.ctask_home), "CTASK_TASK": task, "CTASK_SESSION_ID": session_id}


def call(environ: dict[str, str], stdin: bytes = b"", *, agent: str = "claude", args: t.Sequence[str] = ()) -> Called:
    argv = [*wiring.hook_argv(agent), *args]  # the agents' own command line (an unknown agent: the same shape)
    start = time.monotonic()
    done = subprocess.run(argv, input=stdin, capture_output=True, env=environ, timeout=30, check=False)
    return Called(done.returncode, done.stdout, done.stderr, time.monotonic() - start)


def assert_harmless(called: Called) -> None:
    assert (called.status, called.out, called.err) == (0, b"", b""), called
    assert called.seconds < QUICK, called


def activity_file(env: Env) -> Path:
    return env.task_dir("t1") / "activity.json"


def assert_valid_record(env: Env, state: str) -> dict[str, t.Any]:
    """activity.json is a private regular file of the running session, and ctask reads it."""
    path = activity_file(env)
    assert path.is_file() and not path.is_symlink()
    assert path.stat().st_mode & 0o777 == 0o600
    record = t.cast("dict[str, t.Any]", json.loads(path.read_text()))
    assert record["state"] == state
    assert env.json("status", "t1")["activity"]["state"] == state
    assert not [p.name for p in env.task_dir("t1").iterdir() if p.name.endswith(".tmp")], "a temporary file left"
    return record


GARBAGE = [
    b"",
    b"\x00\xff\xfe not json at all",
    b"{" * 50,
    b"[" * 100_000 + b"]" * 100_000,  # deeper than the JSON parser's recursion limit
    b"[1, 2, 3]",
    b'"PermissionRequest"',
    json.dumps({"hook_event_name": 5, "session_id": {}}).encode(),
    json.dumps({"hook_event_name": "NoSuchEvent", "session_id": "x"}).encode(),
    json.dumps({**ASKED, "pad": "x" * (2 << 20)}).encode(),  # over the 1 MiB the hook reads
]


def test_garbage_on_stdin_exits_0_silently_and_corrupts_nothing(env: Env, agent: list[str]) -> None:
    sid = running(env, agent)
    for stdin in GARBAGE:
        assert_harmless(call(hook_env(env, sid), stdin))
        assert not activity_file(env).exists(), stdin[:40]
    assert_harmless(call(hook_env(env, sid), json.dumps(ASKED).encode()))
    before = assert_valid_record(env, "needs_input")
    for stdin in GARBAGE:
        assert_harmless(call(hook_env(env, sid), stdin))
        assert json.loads(activity_file(env).read_text()) == before, stdin[:40]
    odd = {**ASKED, "hook_event_name": "Stop", "session_id": ["not", "a", "string"], "tool_name": {"x": 1}}
    assert_harmless(call(hook_env(env, sid), json.dumps(odd).encode()))
    record = assert_valid_record(env, "idle")
    assert record["conversation_id"] == ASKED["session_id"], "a malformed id does not replace a good one"


def test_codex_notify_garbage_and_unknown_agents_are_ignored(env: Env, agent: list[str]) -> None:
    sid = running(env, agent)
    for args in ([], ["not json"], ["[1]"], [json.dumps({"type": "unknown-event", "thread-id": "t"})]):
        assert_harmless(call(hook_env(env, sid), agent="codex", args=args))
    assert_harmless(call(hook_env(env, sid), json.dumps(ASKED).encode(), agent="evil"))
    assert not activity_file(env).exists()
    turn = {"type": "agent-turn-complete", "thread-id": "th-1", "turn-id": "1", "last-assistant-message": "ok"}
    assert_harmless(call(hook_env(env, sid), agent="codex", args=["ignored", json.dumps(turn)]))
    assert assert_valid_record(env, "idle")["conversation_id"] == "th-1"


def test_an_old_or_foreign_session_id_changes_nothing(env: Env, agent: list[str]) -> None:
    sid = running(env, agent)
    for other in ("", "someone-else-1-1", sid + "x", f"{sid}\n"):
        assert_harmless(call(hook_env(env, other), json.dumps(ASKED).encode()))
    assert not activity_file(env).exists()
    assert_harmless(call(hook_env(env, sid), json.dumps({**ASKED, "hook_event_name": "Stop"}).encode()))
    before = activity_file(env).read_bytes()
    env.go("t1")  # the session ends and is recorded
    assert env.run("wait", "t1", "--for", "ended", "--timeout", "30").returncode == 0
    late = call(hook_env(env, sid), json.dumps(ASKED).encode())  # a hook of the ended session, late
    assert_harmless(late)
    assert activity_file(env).read_bytes() == before
    assert env.json("status", "t1")["activity"] is None


def test_no_ctask_variables_or_a_forged_task_name_change_nothing(env: Env, agent: list[str]) -> None:
    sid = running(env, agent)
    assert_harmless(call(hook_env(env, None), json.dumps(ASKED).encode()))
    for task in ("", "../t1", "t1/../t1", "/t1", "t1\n", "." * 3):
        assert_harmless(call(hook_env(env, sid, task=task), json.dumps(ASKED).encode()))
    no_home = {k: v for k, v in hook_env(env, sid).items() if k != "CTASK_HOME"}
    assert_harmless(call(no_home, json.dumps(ASKED).encode()))
    assert not activity_file(env).exists()


def test_a_link_planted_at_activity_json_is_replaced_never_written_through(env: Env, agent: list[str]) -> None:
    sid = running(env, agent)
    victim = env.home / ".bashrc"
    victim.write_text("# the user's own\n")
    activity_file(env).symlink_to(victim)
    assert_harmless(call(hook_env(env, sid), json.dumps(ASKED).encode()))
    assert victim.read_text() == "# the user's own\n"
    assert_valid_record(env, "needs_input")
    activity_file(env).unlink()
    nowhere = env.home / "created-by-the-hook"
    activity_file(env).symlink_to(nowhere)
    assert_harmless(call(hook_env(env, sid), json.dumps({**ASKED, "hook_event_name": "Stop"}).encode()))
    assert not nowhere.exists()
    assert_valid_record(env, "idle")


def test_a_fifo_or_directory_at_activity_json_never_blocks_the_hook(env: Env, agent: list[str]) -> None:
    sid = running(env, agent)
    os.mkfifo(activity_file(env), 0o600)
    assert_harmless(call(hook_env(env, sid), json.dumps(ASKED).encode()))
    assert_valid_record(env, "needs_input")  # the FIFO replaced, never opened for writing
    activity_file(env).unlink()
    activity_file(env).mkdir()
    assert_harmless(call(hook_env(env, sid), json.dumps(ASKED).encode()))
    assert activity_file(env).is_dir(), "nothing replaced a directory"
    assert not [p.name for p in env.task_dir("t1").iterdir() if p.name.endswith(".tmp")], "a temporary file left"
    assert env.run("status", "t1").returncode == 0


def test_the_hook_never_waits_for_the_write_lock(env: Env, agent: list[str]) -> None:
    sid = running(env, agent)
    lock = filelock.FileLock(str(env.task_dir("t1") / "write.lock"))
    with lock.acquire(timeout=10):
        called = call(hook_env(env, sid), json.dumps(ASKED).encode())
        assert_harmless(called)
        assert called.seconds < 2, called
        assert json.loads(activity_file(env).read_text())["state"] == "needs_input"
    assert_valid_record(env, "needs_input")


def test_a_stdin_that_never_closes_is_given_up_on(env: Env, agent: list[str]) -> None:
    sid = running(env, agent)
    start = time.monotonic()
    proc = subprocess.Popen(
        wiring.hook_argv("claude"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=hook_env(env, sid),
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(ASKED).encode())  # the event, but the pipe is never closed
    proc.stdin.flush()
    try:
        status = proc.wait(timeout=QUICK)
    finally:
        proc.kill()
        proc.stdin.close()
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    assert_harmless(Called(status, out, err, time.monotonic() - start))
    assert not activity_file(env).exists(), "an event that never ended is not recorded"


def test_what_a_hook_reports_is_printed_escaped(env: Env, agent: list[str]) -> None:
    sid = running(env, agent)
    forged = "\x1b]0;pwned\x07\x1b[2J\rctask: error: forged"
    event = {**ASKED, "hook_event_name": "Notification", "notification_type": "elicitation_dialog", "message": forged}
    assert_harmless(call(hook_env(env, sid), json.dumps({**event, "session_id": forged}).encode()))
    shown = env.run("status", "t1", check=True).stdout
    assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown, shown
    assert "activity:  needs_input " in shown and "\\x1b]0;pwned" in shown
    assert env.json("status", "t1")["activity"]["message"] == " ".join(forged.split()), "--json keeps the text"


# -- the hook's own JSON and name check (it imports neither json nor re: half of its time) ----

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _parsed(text: str) -> str:
    """json.loads's answer, as comparable text (NaN included), or the fact that it refused."""
    try:
        return json.dumps(json.loads(text), sort_keys=True)
    except ValueError:
        return "refused"


def _hook_parsed(text: str) -> str:
    try:
        return json.dumps(hook.loads(text), sort_keys=True)
    except ValueError:
        return "refused"


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.sampled_from(["", " ", "\n\t "]))
def test_hook_loads_reads_what_json_writes(value: object, pad: str) -> None:
    text = pad + json.dumps(value) + pad
    assert _hook_parsed(text) == _parsed(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='{}[]",:0123456789.eE+-truefalsnNaIiy \\u\n', max_size=30))
def test_hook_loads_refuses_what_json_refuses(text: str) -> None:
    assert _hook_parsed(text) == _parsed(text)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text(), st.none() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text())
)
def test_hook_dumps_writes_what_json_writes(data: dict[str, str | int | float | None]) -> None:
    assert hook.dumps(data) == json.dumps(data, separators=(",", ":"))


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=70) | st.from_regex(NAME_RE, fullmatch=True))
def test_hook_name_check_is_the_task_name_rule(name: str) -> None:
    assert hook.valid_name(name) == (NAME_RE.fullmatch(name) is not None)
