"""Generated arguments thrown at every ``ctask.*`` command of one running server.

Hypothesis generates the calls (valid and invalid objects, wrong types, hostile
names, unknown keys, zero or several positional arguments); one ``ctask-ls``
process answers them all.  Every answer must be a result or a JSON-RPC error
with a SPEC ``data.kind`` and a one-line message, never ``InternalError``; the
server must stay responsive and must create nothing outside ``<home>/tasks``.

No call may launch an agent: launching commands only ever get agents that are
not on ``PATH`` (or arguments that fail validation).  The only task is one with
corrupt metadata, which must be reported and never overwritten (no generated
``ctask.remove`` targets it).
"""

from __future__ import annotations

import asyncio
import re
import time
import typing as t

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pygls.exceptions import JsonRpcException

from ctask_ls.server import protocol as p
from tests.helpers import Env
from tests.server.conftest import Start, plain

Call = tuple[str, list[t.Any]]

EXAMPLES = 500
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SPEC_KINDS = frozenset(
    {
        "InvalidName",
        "InvalidArgument",
        "TaskNotFound",
        "TaskExists",
        "TaskBusy",
        "AgentNotFound",
        "TmuxNotFound",
        "NoSession",
        "CorruptMetadata",
        "AdoptionDeclined",
        "LaunchFailed",
        "TmuxError",
        "LockTimeout",
        "ConfigError",
        "GitError",
        "GitNotFound",
    }
)
BAD_ARGUMENT_KINDS = frozenset({"InvalidName", "InvalidArgument"})
LAUNCHING_WITH_AGENT = frozenset({p.NEW, p.RESUME, p.LAST})
BROKEN = "broken"
"""The one task: its task.yaml is corrupt."""
BROKEN_YAML = "name: [unclosed\n"

HOSTILE_NAMES: tuple[str, ...] = (
    "",
    ".",
    "..",
    "/",
    "../x",
    "../../etc",
    "a/b",
    "/etc/passwd",
    "a\x00b",
    "\x00",
    "a\nb",
    "ok\n",
    "ok\r\n",
    "a\tb",
    "x" * 10_000,
    "x" * 65,
    "x" * 64,
    "t\u0430sk",  # Cyrillic a
    "\uff54\uff41\uff53\uff4b",  # fullwidth "task"
    "t\u200bask",  # zero-width space
    "\ufeffok",
    "\u0661\u0662",  # Arabic-Indic digits
    "caf\u00e9",
    "-x",
    "_x",
    ".hidden",
    "a b",
    " a",
    "a ",
    "~",
    "$HOME",
    "`id`",
    "a;rm -rf x",
    "*",
    "tasks",
    "ctask-x",
)
NO_AGENTS: tuple[str, ...] = (
    "no-such-agent-xyz",
    "/nonexistent/no-such-agent",
    "no such agent",
    "no-such-\u0430gent",
    "no-such\x00agent",
    "no-such-agent-" + "y" * 9_000,
    "n" * 10_001,
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(HOSTILE_NAMES)
)
junk: st.SearchStrategy[t.Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
valid_names = st.from_regex(NAME_RE, fullmatch=True).filter(lambda s: NAME_RE.fullmatch(s) is not None)
names: st.SearchStrategy[t.Any] = st.one_of(
    valid_names, valid_names, st.just(BROKEN), st.sampled_from(HOSTILE_NAMES), st.text(max_size=80), junk
)
strings = st.text(max_size=50) | st.sampled_from(HOSTILE_NAMES)
VALUES: dict[str, st.SearchStrategy[t.Any]] = {
    "name": names,
    "str": st.one_of(strings, strings, junk),
    "bool": st.one_of(st.booleans(), st.booleans(), junk),
    "int": st.one_of(st.integers(min_value=0, max_value=100), st.integers(), junk),
    "strlist": st.one_of(st.lists(strings, max_size=4), st.lists(junk, max_size=3), junk),
}
agents: st.SearchStrategy[t.Any] = st.one_of(st.sampled_from(NO_AGENTS), st.sampled_from(NO_AGENTS), junk)


@st.composite
def objects(draw: st.DrawFn, command: str) -> dict[str, t.Any]:
    """One argument object for ``command``: its keys (each maybe left out), maybe unknown ones."""
    obj: dict[str, t.Any] = {}
    for arg in p.ARGUMENTS[command]:
        if draw(st.integers(0, 9)) < (8 if arg.required else 5):
            obj[arg.name] = draw(agents if arg.name == "agent" else VALUES[arg.kind])
    if draw(st.integers(0, 9)) == 0:
        known = {a.name for a in p.ARGUMENTS[command]}
        extra = st.text(max_size=12) | st.sampled_from(("name", "agent", "nmae", "force", "limit", "__proto__"))
        for key in draw(st.lists(extra, max_size=3)):
            if key not in known:
                obj[key] = draw(junk)
    return obj


def tame(command: str, value: t.Any) -> t.Any:
    """Never let a launching command fall back to the configured (real) agent; keep the corrupt task; no real repo."""
    if command in LAUNCHING_WITH_AGENT and isinstance(value, dict) and value.get("agent") is None:
        return {**value, "agent": NO_AGENTS[0]}
    if command == p.REMOVE and isinstance(value, dict) and value.get("name") == BROKEN:
        return {**value, "name": BROKEN + "-gone"}
    if command == p.NEW and isinstance(value, dict) and isinstance(value.get("repo"), str):
        # A generated "." or "" must never reach the checkout the tests run in.
        return {**value, "repo": "/nonexistent-ctask-test/" + value["repo"]}
    return value


@st.composite
def calls(draw: st.DrawFn) -> Call:
    command = draw(st.sampled_from(p.COMMANDS))
    shape = draw(st.integers(0, 19))
    arguments: list[t.Any]
    if shape == 0:
        arguments = []
    elif shape == 1:
        arguments = [None]
    elif shape == 2:
        arguments = [draw(junk.filter(lambda v: not isinstance(v, dict)))]
    elif shape == 3:
        arguments = draw(st.lists(objects(command) | junk, min_size=2, max_size=4))
    else:
        arguments = [draw(objects(command))]
    return command, [tame(command, a) for a in arguments]


def generated_calls() -> list[Call]:
    recorded: list[Call] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(calls())
    def record(call: Call) -> None:
        recorded.append(call)

    record()
    return recorded


def plainly_invalid(command: str, arguments: list[t.Any]) -> bool:
    """Arguments that docs/server.md says are refused with InvalidName/InvalidArgument."""
    if len(arguments) > 1 or (len(arguments) == 1 and not (arguments[0] is None or isinstance(arguments[0], dict))):
        return True
    given_obj: dict[str, t.Any] = arguments[0] if arguments and isinstance(arguments[0], dict) else {}
    spec = {a.name: a for a in p.ARGUMENTS[command]}
    if any(key not in spec for key in given_obj):
        return True
    for arg in spec.values():
        value = given_obj.get(arg.name)
        if value is None:
            if arg.required:
                return True
            continue
        ok = {
            "name": isinstance(value, str) and NAME_RE.fullmatch(value) is not None,
            "str": isinstance(value, str),
            "bool": isinstance(value, bool),
            "int": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
            "strlist": isinstance(value, list) and all(isinstance(v, str) for v in value),
        }[arg.kind]
        if not ok:
            return True
    return False


def shown(command: str, arguments: list[t.Any]) -> str:
    """The call as a repro, long strings shortened."""

    def short(v: t.Any) -> t.Any:
        if isinstance(v, str) and len(v) > 60:
            return f"{v[:20]}...<{len(v)} chars>"
        if isinstance(v, dict):
            return {short(k): short(x) for k, x in v.items()}
        if isinstance(v, list):
            return [short(x) for x in v]
        return v

    return f"{command} {short(arguments)!r}"


def created_paths(env: Env) -> list[str]:
    """Everything under the ctask home that is not <home>/tasks or a validly named task in it."""
    bad: list[str] = []
    home = env.ctask_home
    tasks = home / "tasks"
    if not home.exists():
        return bad
    layout = {".schema", ".migrate.lock"}  # the home's layout mark and its lock (core/migrate.py)
    for path in home.rglob("*"):
        parts = path.relative_to(home).parts
        if len(parts) == 2 and parts[0] == "tasks" and parts[1] in layout:
            continue
        if parts[0] != "tasks" or (len(parts) >= 2 and NAME_RE.fullmatch(parts[1]) is None):
            bad.append(str(path.relative_to(home)))
    if tasks.exists():
        bad.extend(f"tasks/{e.name} (left behind)" for e in tasks.iterdir() if e.name not in {BROKEN, *layout})
    broken = tasks / BROKEN / "task.yaml"
    if not broken.exists() or broken.read_text() != BROKEN_YAML:
        bad.append(f"tasks/{BROKEN}/task.yaml was overwritten")
    return bad


async def test_generated_arguments_to_every_command_get_spec_answers(lsp: Start, env: Env) -> None:
    generated = generated_calls()
    assert len(generated) >= EXAMPLES
    assert {c for c, _ in generated} == set(p.COMMANDS)

    (env.task_dir(BROKEN) / "work").mkdir(parents=True)
    (env.task_dir(BROKEN) / "task.yaml").write_text(BROKEN_YAML)
    s = await lsp()
    problems: list[str] = []

    async def responsive(after: int) -> None:
        started = time.monotonic()
        try:
            listed = await asyncio.wait_for(s.command(p.LIST, {}), 2)
        except Exception as exc:
            raise AssertionError(
                f"ctask.list did not answer within 2 s after {after} calls ({exc!r}); "
                f"last call: {shown(*generated[after - 1])}; problems so far: {problems}"
            ) from exc
        assert [(x["name"], "error" in x) for x in listed] == [(BROKEN, True)], (after, listed)
        assert time.monotonic() - started < 2

    for i, (command, arguments) in enumerate(generated, 1):
        call = shown(command, arguments)
        try:
            result = await asyncio.wait_for(s.command(command, *arguments), 10)
        except JsonRpcException as exc:
            data = plain(exc.data) or {}
            kind = data.get("kind") if isinstance(data, dict) else None
            message = str(exc.message)
            if kind not in SPEC_KINDS:
                problems.append(f"{call}: kind {kind!r} (code {exc.code}): {message[:300]!r}")
            elif "\n" in message or "\r" in message or not message:
                problems.append(f"{call}: {kind} message is not one line: {message[:300]!r}")
            elif plainly_invalid(command, arguments) and kind not in BAD_ARGUMENT_KINDS:
                problems.append(f"{call}: invalid arguments answered {kind}: {message[:200]!r}")
            elif exc.code != (p.INVALID_PARAMS if kind in BAD_ARGUMENT_KINDS else p.REQUEST_FAILED):
                problems.append(f"{call}: {kind} with code {exc.code}")
        except TimeoutError:
            raise AssertionError(f"no answer within 10 s to {call}; problems so far: {problems}") from None
        else:
            if plainly_invalid(command, arguments):
                problems.append(f"{call}: invalid arguments succeeded: {str(result)[:200]}")
            elif command != p.LIST and not (
                arguments and isinstance(arguments[0], dict) and arguments[0].get("name") == BROKEN
            ):
                problems.append(f"{call}: succeeded on a task that does not exist: {str(result)[:200]}")
        assert s.alive, f"the server exited after {call}; problems so far: {problems}"
        if i % 50 == 0:
            await responsive(i)
    await responsive(len(generated))

    assert not problems, f"{len(problems)} bad answers:\n" + "\n".join(problems[:30])
    assert created_paths(env) == []
    assert env.tmux_sessions() == []
