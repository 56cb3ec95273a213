"""Invariant checks shared by the fault-injection tests."""

from __future__ import annotations

import json
import typing as t

import yaml

from ctask_ls.core.lease import pid_alive
from tests.helpers import Env

AGENT_FILES = {"a.txt": "alpha", "b.txt": "beta"}
"""What the agent writes (``write=a.txt:alpha``, ``wait=go``, ``write=b.txt:beta``)."""

AGENT_STEPS = ("write=a.txt:alpha", "wait=go", "write=b.txt:beta")


def check_metadata(env: Env, name: str) -> None:
    """Every metadata file parses; no leftover temporary files."""
    ws = env.task_dir(name)
    for rel in ("task.yaml", "lease.yaml", "summary.yaml"):
        path = ws / rel
        if path.exists():
            data = yaml.safe_load(path.read_bytes())
            assert isinstance(data, dict), f"{rel} does not hold a mapping: {data!r}"
    for rel in ("sessions.jsonl", "events.jsonl"):
        path = ws / rel
        if path.exists():
            for line in path.read_bytes().splitlines():
                if line.strip():
                    assert isinstance(json.loads(line), dict), f"{rel}: {line!r}"
    start = ws / "manifest.start.json"
    if start.exists():
        json.loads(start.read_bytes())
    for folder in (ws, ws / "work"):
        leftovers = [p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.endswith("~")]
        assert not leftovers, f"temporary files left behind in {folder}: {leftovers}"


def check_agent_files(env: Env, name: str, files: t.Mapping[str, str]) -> None:
    for rel, text in files.items():
        assert env.read(name, rel) == text.encode(), f"{rel} changed"


def check_one_owner(env: Env, name: str, pid: int) -> None:
    """A running session has exactly one owner: a fresh_local lease held by a live ``pid``."""
    assert env.tmux_alive(name)
    assert env.tmux_sessions().count(env.tmux_name(name)) == 1
    lease = env.lease(name)
    assert lease is not None and lease["pid"] == pid, lease
    assert pid_alive(pid)
    status = env.json("status", name)
    assert status["lease"]["state"] == "fresh_local", status["lease"]


def check_ended(env: Env, name: str, sessions: int) -> list[dict[str, t.Any]]:
    """The session ended and was recorded: ``sessions`` records, a matching summary, no lease, no tmux."""
    records = env.records(name, sessions)
    summary = env.summary(name)
    if sessions:
        assert summary is not None
        assert summary["session_id"] == records[-1]["session_id"]
    assert env.lease(name) is None, env.lease(name)
    assert not (env.task_dir(name) / "manifest.start.json").exists()
    assert env.tmux_name(name) not in env.tmux_sessions()
    check_metadata(env, name)
    problems = env.session_log_problems()
    assert not problems, "; ".join(problems)
    return records


def start_manifest_sid(env: Env, name: str) -> str | None:
    path = env.task_dir(name) / "manifest.start.json"
    if not path.exists():
        return None
    return t.cast(str | None, json.loads(path.read_text()).get("session_id"))
