"""Summaries, the append-only session log and the event log.

``summary.yaml`` holds the last finished session (rewritten atomically);
``sessions.jsonl`` gets one JSON line per finished session, the summary
without its file lists; ``events.jsonl`` gets one line per lease event (taken,
released, stale seen, adopted, attach failed, finalized, warnings).  Lines are
appended with a single ``O_APPEND`` write, so concurrent writers never
interleave within a line.
"""

from __future__ import annotations

import contextlib
import json
import os
import typing as t

from ctask_ls.core import timeutil
from ctask_ls.core.errors import CorruptMetadata
from ctask_ls.core.storage import MetadataCache, append_line, atomic_write, dump_yaml, load_yaml_mapping, open_regular

if t.TYPE_CHECKING:
    from ctask_ls.core.workspace import Workspace

FILE_LISTS = ("added", "modified", "deleted")
_TAIL_BYTES = 256 * 1024


def write_summary(ws: Workspace, summary: t.Mapping[str, t.Any]) -> None:
    atomic_write(ws.summary_path, dump_yaml(summary))


SUMMARY_HINT = "run `ctask repair {name}` to move it aside (the session log keeps the record)"


def read_summary(ws: Workspace) -> dict[str, t.Any] | None:
    """The last session's summary, None if there is none yet."""
    try:
        return load_yaml_mapping(ws.summary_path, hint=SUMMARY_HINT.format(name=ws.name))
    except FileNotFoundError:
        return None


def _brief(summary: dict[str, t.Any]) -> dict[str, t.Any]:
    return {k: v for k, v in log_record(summary).items() if k != "last_lines"}


GIT_LISTS = frozenset({"commits", "committed", "uncommitted"})


def log_record(summary: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The session-log line of a summary: counts, not file lists (nor git's lists)."""
    record = {k: v for k, v in summary.items() if k not in FILE_LISTS}
    if isinstance(view := record.get("git"), dict):
        record["git"] = {k: v for k, v in view.items() if k not in GIT_LISTS}
    return record


def append_session(ws: Workspace, summary: t.Mapping[str, t.Any]) -> None:
    append_line(ws.sessions_log, log_record(summary))


MAX_LINE_BYTES = 1 << 20
"""A session-log line longer than this is skipped unread (a record is a few hundred bytes)."""
MAX_PROBLEMS = 5
"""Unreadable session-log lines reported one by one; the rest are counted in one more line."""


def read_sessions(ws: Workspace, limit: int | None = None) -> tuple[list[dict[str, t.Any]], list[str]]:
    """Session records, oldest first, and the problems: unreadable lines are skipped, never fatal.

    A line that is not a JSON object with a string ``session_id`` is skipped and
    reported (at most :data:`MAX_PROBLEMS` lines, then one line counting the
    rest); memory stays bounded by :data:`MAX_LINE_BYTES` whatever the file holds.
    """
    records: list[dict[str, t.Any]] = []
    problems: list[str] = []
    skipped = 0
    try:
        fh = os.fdopen(open_regular(ws.sessions_log), "rb")
    except FileNotFoundError:
        return [], []
    except CorruptMetadata as exc:
        return [], [str(exc)]
    with fh:
        number = 0
        while raw := fh.readline(MAX_LINE_BYTES + 1):
            number += 1
            why: str | None = None
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while (rest := fh.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                why = f"longer than {MAX_LINE_BYTES} bytes"
            elif not raw.strip():
                continue
            else:
                try:
                    record = json.loads(raw)
                    if not isinstance(record, dict):
                        raise ValueError(f"a JSON {type(record).__name__}, not an object")
                    if not isinstance(record.get("session_id"), str):
                        raise ValueError("not a session record: no session_id")
                except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                    why = " ".join(str(exc).split())[:200]
                else:
                    records.append(record)
            if why is not None:
                skipped += 1
                if skipped <= MAX_PROBLEMS:
                    problems.append(f"{ws.sessions_log}:{number}: unreadable line skipped ({why})")
    if skipped > MAX_PROBLEMS:
        problems.append(f"{ws.sessions_log}: {skipped - MAX_PROBLEMS} more unreadable lines skipped")
    if limit is not None:
        records = records[-limit:] if limit > 0 else []
    return records, problems


def session_logged(ws: Workspace, session_id: str) -> bool:
    """Whether the log already has a record for ``session_id`` (looks at its tail)."""
    try:
        with os.fdopen(open_regular(ws.sessions_log), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - _TAIL_BYTES))
            tail = fh.read()
    except FileNotFoundError:
        return False
    needle = json.dumps(session_id).encode()
    for raw in tail.splitlines():
        if needle in raw:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("session_id") == session_id:
                return True
    return False


def event(ws: Workspace, kind: str, **fields: t.Any) -> None:
    """Append one event; never raises (the event log is forensics, not state)."""
    record = {"at": timeutil.now_str(), "event": kind, "task": ws.name, "pid": os.getpid(), **fields}
    with contextlib.suppress(OSError):
        append_line(ws.events_log, record)


def load_summary_or_none(
    ws: Workspace, cache: MetadataCache | None = None
) -> tuple[dict[str, t.Any] | None, CorruptMetadata | None]:
    """The last summary (without file lists when read through ``cache``), or the error."""
    try:
        if cache is not None:
            hint = SUMMARY_HINT.format(name=ws.name)
            return cache.get(ws.control("summary.yaml"), lambda p: _brief(load_yaml_mapping(p, hint=hint))), None
        return read_summary(ws), None
    except FileNotFoundError:
        return None, None
    except CorruptMetadata as exc:
        return None, exc
    except OSError as exc:
        return None, CorruptMetadata(str(ws.summary_path), exc.strerror or str(exc))
