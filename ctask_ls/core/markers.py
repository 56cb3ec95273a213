"""The marker files of a session: ``launched`` (tmux runs it) and ``stop-requested`` (``ctask stop`` asked).

``launched`` holds the session id once tmux runs the agent: a start manifest
without it is a launch whose launcher died before the agent ran, which is no
session to record.  ``stop-requested`` holds the request (time, who, the
session's last screen lines), so that whoever records the session says
``stopped``; a request left for another session is removed, never applied.
"""

from __future__ import annotations

import contextlib
import json
import typing as t

from ctask_ls.core import timeutil
from ctask_ls.core.errors import CorruptMetadata
from ctask_ls.core.storage import atomic_write, read_limited

if t.TYPE_CHECKING:
    import datetime as dt

    from ctask_ls.core.workspace import Workspace


def mark_launched(ws: Workspace, session_id: str) -> None:
    """Record that tmux runs the session (a small atomic write; the launch holds the lease)."""
    atomic_write(ws.launched_marker, session_id)


def launched(ws: Workspace, session_id: str | None) -> bool:
    """Whether the session of this start manifest ever ran (see Workspace.launched_marker)."""
    text = launched_sid(ws)
    return text is not None and (session_id is None or text == session_id)


def launched_sid(ws: Workspace) -> str | None:
    """The id in ``launched``: the running session's, even when its start manifest is unreadable."""
    try:
        text = read_limited(ws.launched_marker, 4096).decode("utf-8", errors="replace").strip()
    except (FileNotFoundError, CorruptMetadata):
        return None
    return text or None


def request_stop(ws: Workspace, request: t.Mapping[str, t.Any]) -> None:
    """Leave a stop request for whoever records the session; the caller holds the write lock."""
    atomic_write(ws.stop_marker, json.dumps(request))


def stop_requested(ws: Workspace, session_id: str | None) -> dict[str, t.Any] | None:
    """The stop request for this session; a request left for another session is removed."""
    marker = _read_stop_marker(ws)
    if marker is None:
        return None
    wanted = marker.get("session_id")
    if wanted and session_id and wanted != session_id:
        with contextlib.suppress(FileNotFoundError):
            ws.stop_marker.unlink()
        return None
    return marker


def stop_time(stop: dict[str, t.Any]) -> dt.datetime | None:
    """When a stop request was made (the session was killed right after), if it says."""
    with contextlib.suppress(ValueError, TypeError):
        return timeutil.parse(stop["requested_at"]) if stop.get("requested_at") else None
    return None


def _read_stop_marker(ws: Workspace) -> dict[str, t.Any] | None:
    try:
        data = json.loads(read_limited(ws.stop_marker, 65536))
    except FileNotFoundError:
        return None
    except (ValueError, CorruptMetadata):
        return {}
    return data if isinstance(data, dict) else {}
