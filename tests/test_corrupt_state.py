"""Corrupt state, file by file and kind by kind, through the CLI and through the server (SPEC 3.1, 6).

The matrix: ``task.yaml``, ``lease.yaml``, ``manifest.start.json``
and lines of ``sessions.jsonl``, each truncated, binary (bytes that are
not UTF-8), empty, huge (10 MB) and of the wrong type (valid YAML/JSON of the
wrong shape).  Every cell: a clear one-line error naming the file (for the
session log: the bad lines are skipped and reported as warnings), the corrupt
bytes are never overwritten, a healthy second task still works, and the server
keeps answering.  ``test_corrupt_metadata.py`` holds the CLI cells it already
covered (and repair); this file adds the rest and the server.
"""

from __future__ import annotations

import asyncio
import json
import random
import typing as t
from pathlib import Path

import pytest

from ctask_ls.core.storage import keep_aside
from ctask_ls.server import protocol as p
from tests.helpers import Env, retry_until
from tests.server.conftest import RpcError, Session, Start, lsp

__all__ = ["lsp"]

KINDS = ("truncated", "binary", "empty", "huge", "wrong-type")
HUGE = 10 << 20
TASK_YAML = "task.yaml"
LEASE = "lease.yaml"
MANIFEST = "manifest.start.json"
SESSIONS = "sessions.jsonl"
COVERED = {
    (TASK_YAML, "truncated"),
    (TASK_YAML, "binary"),
    (TASK_YAML, "empty"),
    (LEASE, "truncated"),
    (LEASE, "binary"),
}
"""CLI cells test_corrupt_metadata.py already checks."""


def binary() -> bytes:
    """Random bytes that are not UTF-8 (and hold no newline), the same every run."""
    rng = random.Random(7)
    return b"\xff\xfe" + bytes(rng.randrange(0x80, 0x100) for _ in range(512))


def corrupt_metadata(rel: str, kind: str, healthy: bytes) -> bytes:
    """A corrupt ``task.yaml``/``lease.yaml``/start manifest made from a healthy one."""
    if kind == "truncated":  # cut inside a quoted scalar (YAML) or anywhere (JSON): never parses
        cut = len(healthy) // 2
        if rel != MANIFEST:
            cut = min(i for i in (healthy.find(b"'", cut), healthy.find(b'"', cut)) if i >= 0) + 3
        return healthy[:cut]
    if kind == "binary":
        return binary()
    if kind == "empty":
        return b""
    if kind == "huge":  # YAML: the healthy file plus a 10 MB comment; JSON: 10 MB of nesting
        return b"[" * HUGE if rel == MANIFEST else healthy + b"# " + b"x" * HUGE + b"\n"
    assert kind == "wrong-type"
    return {TASK_YAML: b"42\n", LEASE: b"- host\n- pid\n", MANIFEST: b"[1, 2, 3]\n"}[rel]


def corrupt_log(kind: str, healthy: bytes) -> tuple[bytes, int]:
    """A session log holding the healthy records and bad lines; and how many bad lines."""
    line = healthy.splitlines()[0]
    if kind == "truncated":  # a record cut short, no newline: the next append must not glue onto it
        return healthy + line[: len(line) // 2], 1
    if kind == "binary":
        return healthy + binary() + b"\n", 1
    if kind == "empty":  # no records, and no problem either
        return b"", 0
    if kind == "huge":
        return healthy + b'{"session_id": "pad", "pad": "' + b"x" * HUGE + b'"}\n', 1
    assert kind == "wrong-type"
    return healthy + b'42\n["s1"]\n{"no_session_id": true}\n', 3


# -- CLI ------------------------------------------------------------------------------------------------


def one_error_line(proc: t.Any, path: Path) -> str:
    """The command failed with exactly one line on stderr, naming ``path``."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"ctask: error: {path} is corrupt ("), lines[0]
    return str(lines[0])


def healthy_task_still_works(env: Env) -> None:
    proc = env.run("list", "--json")
    listed = {x["name"]: x for x in json.loads(proc.stdout)}
    assert "error" not in listed["good"], listed["good"]
    assert env.run("status", "good").returncode == 0
    assert env.run("log", "good").returncode == 0


@pytest.mark.parametrize(
    ("rel", "kind"), [(rel, kind) for rel in (TASK_YAML, LEASE) for kind in KINDS if (rel, kind) not in COVERED]
)
def test_cli_reports_corrupt_task_or_lease_yaml_and_keeps_its_bytes(env: Env, rel: str, kind: str) -> None:
    env.bare_task("t1")
    env.bare_task("good")
    if rel == LEASE:
        env.write_lease("t1")
    path = env.task_dir("t1") / rel
    bad = corrupt_metadata(rel, kind, path.read_bytes())
    path.write_bytes(bad)

    commands = [("status", "t1"), ("resume", "t1"), ("status", "t1", "--json")]
    if rel == TASK_YAML:
        commands += [("diff", "t1"), ("log", "t1"), ("attach", "t1")]
    for argv in commands:
        line = one_error_line(env.run(*argv), path)
        if kind == "huge":
            assert "(larger than 1048576 bytes)" in line, line
        assert path.read_bytes() == bad, f"ctask {' '.join(argv)} changed {rel}"
    proc = env.run("list")
    assert proc.returncode == 1 and f"{path} is corrupt" in proc.stderr
    healthy_task_still_works(env)
    assert env.tmux_sessions() == []
    assert path.read_bytes() == bad


@pytest.mark.parametrize("kind", KINDS)
def test_cli_records_a_session_whose_start_manifest_is_corrupt_and_keeps_its_bytes(
    env: Env, agent: list[str], kind: str
) -> None:
    env.bare_task("good")
    env.new_detached("t1", agent, "write=a.txt:1", "wait=go")
    retry_until((env.tree("t1") / "a.txt").exists)
    path = env.task_dir("t1") / MANIFEST
    bad = corrupt_metadata(MANIFEST, kind, path.read_bytes())
    path.write_bytes(bad)

    line = one_error_line(env.run("diff", "t1"), path)
    assert "not a valid manifest" in line, line
    for argv in (("status", "t1"), ("list",)):  # a running session's baseline is not needed here
        proc = env.run(*argv)
        assert proc.returncode == 0, proc.stderr
        assert path.read_bytes() == bad
    healthy_task_still_works(env)

    # The session ends while nobody owns it: it is still recorded (by tmux's hook, the reaper, or
    # the next command, whichever comes first), the corrupt bytes kept aside, and the log says so.
    env.go("t1")
    retry_until(lambda: (env.pane("t1") or {}).get("dead") or env.tmux_name("t1") not in env.tmux_sessions())
    proc = env.run("status", "t1")
    assert proc.returncode == 0, proc.stderr
    warnings = [e["message"] for e in env.events("t1") if e["event"] == "warning"]
    assert any(m.startswith("corrupt start manifest: kept it as manifest.start.json.corrupt-") for m in warnings)
    (aside,) = path.parent.glob("manifest.start.json.corrupt-*")
    assert aside.read_bytes() == bad
    assert not path.exists()
    (record,) = env.records("t1", 1)
    assert (record["end_reason"], record["baseline"]) == ("ended_unowned", "none")
    assert env.run("diff", "t1").returncode == 0


def test_a_session_whose_start_manifest_is_corrupt_and_tmux_session_gone_keeps_its_id(
    env: Env, agent: list[str]
) -> None:
    env.new_detached("t1", agent, "wait=go")
    launched = (env.task_dir("t1") / "launched").read_text().strip()
    path = env.task_dir("t1") / MANIFEST
    path.write_bytes(corrupt_metadata(MANIFEST, "binary", path.read_bytes()))
    env.tmux("kill-session", "-t", env.tmux_name("t1"))
    proc = env.run("list")
    assert proc.returncode == 0, proc.stderr
    (record,) = env.records("t1", 1)
    # Without the baseline and the tmux session, the id comes from launched: a rerun after a
    # crash finds this record instead of logging the session again under an invented id.
    assert record["session_id"] == launched
    # Its last session killed, tmux's server ended too: what a reboot looks like (SPEC 3.12).
    assert (record["end_reason"], record["baseline"]) == ("tmux_server_gone", "none")


@pytest.mark.parametrize("kind", KINDS)
def test_cli_skips_bad_session_log_lines_with_warnings_and_appends_after_them(
    env: Env, agent: list[str], kind: str
) -> None:
    assert env.new("t1", agent, "write=a.txt:1", "sleep=0.5").returncode == 0
    env.bare_task("good")
    path = env.task_dir("t1") / SESSIONS
    healthy = path.read_bytes()
    (first,) = env.records("t1", 1)
    bad, bad_lines = corrupt_log(kind, healthy)
    path.write_bytes(bad)
    good_records = 0 if kind == "empty" else 1

    proc = env.run("log", "t1", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [r["session_id"] for r in json.loads(proc.stdout)] == [first["session_id"]] * good_records
    warnings = proc.stderr.splitlines()
    assert len(warnings) == bad_lines, proc.stderr
    for number, warning in enumerate(warnings, 2):
        assert warning.startswith(f"[ctask] warning: {path}:{number}: unreadable line skipped ("), warning
    if kind == "huge":
        assert warnings[0].endswith("(longer than 1048576 bytes)"), warnings
    proc = env.run("log", "t1")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stdout.splitlines()) == max(good_records, 1)
    assert env.run("status", "good").returncode == 0
    assert path.read_bytes() == bad

    # The next session is recorded after the bad lines, readable, and the bad bytes stay as they were.
    proc = env.run("resume", "t1")
    assert proc.returncode == 0, proc.stderr
    assert path.read_bytes().startswith(bad)
    proc = env.run("log", "t1", "--json")
    records = json.loads(proc.stdout)
    assert len(records) == good_records + 1, (records, proc.stderr)
    assert records[-1]["session_id"] != first["session_id"]
    assert len(proc.stderr.splitlines()) == bad_lines


# -- server ---------------------------------------------------------------------------------------------


async def error_naming(s: Session, command: str, name: str, path: Path) -> RpcError:
    """``command {name}`` fails with CorruptMetadata, a one-line message naming ``path``."""
    err = await s.error(command, {"name": name})
    assert err.kind == "CorruptMetadata", (command, name, err)
    assert err.message.startswith(f"{path} is corrupt ("), err.message
    assert "\n" not in err.message
    assert err.data.get("path") == str(path)
    return err


async def still_serving(s: Session) -> None:
    assert s.alive
    status = await s.command(p.STATUS, {"name": "good"})
    assert status["name"] == "good" and "error" not in status


def corrupt_tasks(env: Env, rel: str) -> dict[str, tuple[Path, bytes]]:
    """One task per kind (``<kind>``) with ``rel`` corrupted that way; the paths and the bad bytes."""
    env.bare_task("good")
    out: dict[str, tuple[Path, bytes]] = {}
    for kind in KINDS:
        env.bare_task(kind)
        if rel == LEASE:
            env.write_lease(kind)
        path = env.task_dir(kind) / rel
        bad = corrupt_metadata(rel, kind, path.read_bytes())
        path.write_bytes(bad)
        out[kind] = (path, bad)
    return out


@pytest.mark.parametrize("rel", [TASK_YAML, LEASE])
async def test_server_reports_corrupt_task_or_lease_yaml_and_keeps_serving(lsp: Start, env: Env, rel: str) -> None:
    tasks = await asyncio.to_thread(corrupt_tasks, env, rel)
    s = await lsp()
    commands = [p.STATUS, p.RESUME] + ([p.ATTACH, p.DIFF, p.LOG, p.OPEN, p.STOP] if rel == TASK_YAML else [])
    for kind, (path, bad) in tasks.items():
        for command in commands:
            err = await error_naming(s, command, kind, path)
            if kind == "huge":
                assert "(larger than 1048576 bytes)" in err.message
            assert path.read_bytes() == bad, f"{command} changed {kind}'s {rel}"
            await still_serving(s)
    listed = {x["name"]: x for x in await s.command(p.LIST, {})}
    assert "error" not in listed["good"]
    for kind, (path, bad) in tasks.items():
        assert listed[kind]["error"].startswith(f"{path} is corrupt ("), listed[kind]
        assert path.read_bytes() == bad
    assert env.tmux_sessions() == []
    await still_serving(s)


async def test_server_reports_a_corrupt_start_manifest_adopts_and_keeps_its_bytes(
    lsp: Start, env: Env, agent: list[str]
) -> None:
    def setup() -> dict[str, tuple[Path, bytes]]:
        env.bare_task("good")
        out = {}
        for kind in KINDS:
            env.new_detached(kind, agent, "write=a.txt:1", "wait=go")
            retry_until((env.tree(kind) / "a.txt").exists)
            path = env.task_dir(kind) / MANIFEST
            bad = corrupt_metadata(MANIFEST, kind, path.read_bytes())
            path.write_bytes(bad)
            out[kind] = (path, bad)
        return out

    tasks = await asyncio.to_thread(setup)
    s = await lsp(init={"ctask": {"autoAdopt": False}})
    for kind, (path, bad) in tasks.items():
        err = await error_naming(s, p.DIFF, kind, path)
        assert "not a valid manifest" in err.message
        status = await s.command(p.STATUS, {"name": kind})
        assert status["tmux_alive"] is True and "error" not in status
        assert path.read_bytes() == bad
        await still_serving(s)

    # Adoption keeps the corrupt bytes aside and takes a fresh baseline; the session is recorded once.
    for kind, (path, bad) in tasks.items():
        mark = s.mark()
        adopted = await s.command(p.ATTACH, {"name": kind})
        assert adopted["action"] == "adopted", adopted
        assert any(f"{path} is corrupt (not a valid manifest" in m for m in s.logs()), s.logs()
        (aside,) = path.parent.glob("manifest.start.json.corrupt-*")
        assert aside.read_bytes() == bad
        env.go(kind)
        ended = await s.wait_for(p.SESSION_ENDED, name=kind, since=mark, timeout=15)
        assert ended.params["summary"]["baseline"] == "adoption"
        env.records(kind, 1)
    await still_serving(s)


async def test_server_skips_bad_session_log_lines_with_warnings(lsp: Start, env: Env, agent: list[str]) -> None:
    def setup() -> dict[str, tuple[Path, bytes, int]]:
        assert env.new("good", agent, "write=a.txt:1", "sleep=0.5").returncode == 0
        healthy = env.read_control("good", SESSIONS)  # one real record: each task's log starts with it
        out = {}
        for kind in KINDS:
            env.bare_task(kind)
            path = env.task_dir(kind) / SESSIONS
            bad, bad_lines = corrupt_log(kind, healthy)
            path.write_bytes(bad)
            out[kind] = (path, bad, bad_lines)
        return out

    tasks = await asyncio.to_thread(setup)
    s = await lsp()
    for kind, (path, bad, bad_lines) in tasks.items():
        seen = len(s.logs())
        records = await s.command(p.LOG, {"name": kind})
        assert len(records) == (0 if kind == "empty" else 1), records

        def warnings(path: Path = path, seen: int = seen) -> list[str]:
            return [m for m in s.logs()[seen:] if f"{path}:" in m]

        def warned(bad_lines: int = bad_lines) -> bool:
            return len(warnings()) >= bad_lines

        await asyncio.to_thread(retry_until, warned, 5)
        assert len(warnings()) == bad_lines, warnings()
        assert all("unreadable line skipped (" in w for w in warnings()), warnings()
        assert path.read_bytes() == bad
        status = await s.command(p.STATUS, {"name": kind})
        assert "error" not in status
        await still_serving(s)
    listed = await s.command(p.LIST, {})
    assert all("error" not in x for x in listed), listed


def test_cli_reports_five_bad_session_log_lines_then_counts_the_rest(env: Env) -> None:
    env.bare_task("t1")
    path = env.task_dir("t1") / SESSIONS
    bad = b"".join(b"garbage %d\n" % i for i in range(1000)) + b'{"session_id": "s1"}\n'
    path.write_bytes(bad)
    proc = env.run("log", "t1", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [r["session_id"] for r in json.loads(proc.stdout)] == ["s1"]
    warnings = proc.stderr.splitlines()
    assert [w.split(": unreadable")[0] for w in warnings[:5]] == [f"[ctask] warning: {path}:{n}" for n in range(1, 6)]
    assert warnings[5:] == [f"[ctask] warning: {path}: 995 more unreadable lines skipped"], warnings
    assert path.read_bytes() == bad


def test_keeping_a_corrupt_file_aside_never_replaces_one_kept_before(tmp_path: Path) -> None:
    path = tmp_path / "task.yaml"
    earlier = tmp_path / "task.yaml.corrupt-20260101T000000Z"
    earlier.write_bytes(b"first corrupt bytes")
    path.write_bytes(b"second corrupt bytes")
    aside = keep_aside(path, "20260101T000000Z")
    assert aside.name == "task.yaml.corrupt-20260101T000000Z-1"
    assert (aside.read_bytes(), earlier.read_bytes()) == (b"second corrupt bytes", b"first corrupt bytes")
    assert not path.exists()

    path.write_bytes(b"third")
    kept = keep_aside(path, "20260101T000000Z", move=False)
    assert kept.name == "task.yaml.corrupt-20260101T000000Z-2"
    assert kept.read_bytes() == path.read_bytes() == b"third"
