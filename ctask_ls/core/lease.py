"""The lease: who owns a task's running session, kept fresh by a heartbeat.

``inspect_lease`` returns exactly one of four states (SPEC 3.2):

``missing``
    no lease file.
``stale``
    heartbeat older than ``stale_after``, the file is unreadable, or the owner
    is on this host and its pid is gone (a dead local owner is stale at once).
``fresh_local``
    fresh heartbeat, this host, owner alive.
``fresh_remote``
    fresh heartbeat, another host (shared filesystems).

A lease is written in one place, :func:`try_acquire_or_renew` (launch and
adoption take it, the heartbeat renews it), and removed in one place,
:func:`release`; both run under the task's write lock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import threading
import typing as t
from pathlib import Path

from ctask_ls.core import records, timeutil
from ctask_ls.core.errors import CorruptMetadata
from ctask_ls.core.storage import FileKey, ParsedFiles, atomic_write, file_key, parse_yaml_mapping, read_text_limited

if t.TYPE_CHECKING:
    from ctask_ls.core.workspace import Workspace

MISSING = "missing"
STALE = "stale"
FRESH_LOCAL = "fresh_local"
FRESH_REMOTE = "fresh_remote"
STATES = (MISSING, STALE, FRESH_LOCAL, FRESH_REMOTE)

_REPAIR = "if no ctask process owns task {name}, run `ctask repair {name}` to move it aside"


def hostname() -> str:
    """gethostname(2), which on Linux is uname's nodename (without importing socket)."""
    return os.uname().nodename


_issued: dict[str, int] = {}
_issued_lock = threading.Lock()


def new_session_id(host: str, pid: int, started: dt.datetime) -> str:
    """``<host>-<pid>-<unix start>``, and ``-N`` after it for the Nth session this process starts in that second.

    One server can start two sessions of a task within a second (an agent that ends at once, a resume):
    each must have its own id, or the second's record would be taken for the first's and never written.
    """
    base = f"{host}-{pid}-{int(started.timestamp())}"
    with _issued_lock:
        if len(_issued) > 1024:  # only this second's ids can repeat
            _issued.clear()
        n = _issued[base] = _issued.get(base, 0) + 1
    return base if n == 1 else f"{base}-{n}"


@dataclasses.dataclass(frozen=True)
class Lease:
    """The contents of ``lease.yaml``."""

    session_id: str
    """``<host>-<pid>-<unix start>`` of the owner that wrote this lease."""
    host: str
    pid: int
    agent: str
    """The launched command, for diagnostics."""
    mode: str
    tmux_session: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    owner: str
    """``cli`` or ``server``."""

    def to_mapping(self) -> dict[str, t.Any]:
        return {
            "schema": 1,
            "session_id": self.session_id,
            "host": self.host,
            "pid": self.pid,
            "agent": self.agent,
            "mode": self.mode,
            "tmux_session": self.tmux_session,
            "started_at": timeutil.rfc3339(self.started_at),
            "heartbeat_at": timeutil.rfc3339(self.heartbeat_at),
            "owner": self.owner,
        }

    @classmethod
    def from_mapping(cls, data: t.Mapping[str, t.Any]) -> Lease:
        pid = data.get("pid")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise ValueError("pid must be a positive integer")
        strings = {}
        for key in ("session_id", "host", "agent", "mode", "tmux_session", "owner"):
            value = data.get(key)
            if not isinstance(value, str):
                raise ValueError(f"{key} must be a string")
            strings[key] = value
        return cls(
            pid=pid,
            started_at=timeutil.parse(data.get("started_at")),
            heartbeat_at=timeutil.parse(data.get("heartbeat_at")),
            **strings,
        )


@dataclasses.dataclass(frozen=True)
class LeaseInfo:
    """The result of :func:`inspect_lease`."""

    state: str
    reason: str | None = None
    lease: Lease | None = None
    age_s: float | None = None
    """Seconds since the last heartbeat."""
    error: CorruptMetadata | None = None
    """Set when the lease file exists but cannot be read."""

    @property
    def fresh(self) -> bool:
        return self.state in (FRESH_LOCAL, FRESH_REMOTE)

    def to_json(self) -> dict[str, t.Any]:
        data: dict[str, t.Any] = {"state": self.state}
        if self.reason:
            data["reason"] = self.reason
        if self.lease is not None:
            data.update(self.lease.to_mapping())
            data.pop("schema")
            data["age_s"] = round(self.age_s or 0.0, 1)
        return data


def read_lease(ws: Workspace) -> Lease:
    """Read the lease; FileNotFoundError when there is none, CorruptMetadata when unreadable."""
    hint = _REPAIR.format(name=ws.name)
    return parse_lease(read_text_limited(ws.lease_path, hint=hint), ws.lease_path, hint=hint)


def parse_lease(text: str, path: str | Path, *, hint: str = "") -> Lease:
    """The lease in ``text`` (read from ``path``); CorruptMetadata when it is not one."""
    data = _plain_mapping(text)
    if data is None:  # not the form lease_yaml writes: a YAML parser decides
        data = parse_yaml_mapping(text, path, hint=hint)
    try:
        return Lease.from_mapping(data)
    except (ValueError, TypeError) as exc:
        raise CorruptMetadata(str(path), f"wrong contents: {exc}", hint=hint) from exc


def write_lease(ws: Workspace, lease: Lease, *, durable: bool = True) -> None:
    """Write the lease atomically; the caller holds the write lock."""
    atomic_write(ws.lease_path, lease_yaml(lease), durable=durable)


def lease_yaml(lease: Lease) -> str:
    """The lease as YAML, one ``key: value`` line per field.

    Written by hand because heartbeats rewrite it every few seconds for every
    owned session: strings are JSON-quoted, which YAML reads as double-quoted
    scalars, so any host or agent name round-trips.
    """
    return "".join(
        f"{key}: {value if isinstance(value, int) else json.dumps(value)}\n"
        for key, value in lease.to_mapping().items()
    )


_LEASE_KEYS = frozenset(
    ("schema", "session_id", "host", "pid", "agent", "mode", "tmux_session", "started_at", "heartbeat_at", "owner")
)


def _plain_mapping(text: str) -> dict[str, t.Any] | None:
    """Parse what :func:`lease_yaml` writes without a YAML parser; None for anything else.

    Every line must be ``key: value`` with a key of the lease and a value that
    is a decimal integer or a JSON string, which YAML reads the same way (a
    double-quoted scalar).  ``ctask list`` reads every lease, and importing
    and running a YAML parser for a handful of them was a tenth of its time.
    """
    if not text.endswith("\n"):
        return None
    data: dict[str, t.Any] = {}
    for line in text[:-1].split("\n"):
        key, sep, value = line.partition(": ")
        if not sep or key not in _LEASE_KEYS:
            return None
        if value.isdigit() and value.isascii() and (value == "0" or value[0] != "0"):
            data[key] = int(value)
        elif len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            try:
                parsed = json.loads(value)
            except ValueError:
                return None
            if not isinstance(parsed, str):
                return None
            data[key] = parsed
        else:
            return None
    return data


def pid_alive(pid: int) -> bool:
    """True if ``pid`` is a live process (zombies count as dead)."""
    if pid == os.getpid():  # the server classifies its own leases on every poll
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return True
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
    return state not in (b"Z", b"X")


def classify(lease: Lease, *, stale_after: float, host: str, now: float | None = None) -> LeaseInfo:
    age = timeutil.age_seconds(lease.heartbeat_at, at=now)
    if lease.host == host and not pid_alive(lease.pid):
        return LeaseInfo(STALE, f"owner pid {lease.pid} on {host} is not running", lease, age)
    if age > stale_after:
        return LeaseInfo(STALE, f"last heartbeat {age:.0f}s ago (stale after {stale_after:g}s)", lease, age)
    if lease.host == host:
        return LeaseInfo(FRESH_LOCAL, None, lease, age)
    return LeaseInfo(FRESH_REMOTE, None, lease, age)


def inspect_lease(
    ws: Workspace, *, stale_after: float, host: str | None = None, reads: LeaseReads | None = None
) -> LeaseInfo:
    """Exactly one of the four states, with the reason when stale.

    ``reads``: reuse the lease parsed last time when its file has not changed
    (for display only: ``status`` and ``list``, never a decision under the lock).
    """
    try:
        lease = read_lease(ws) if reads is None else reads.get(ws.control("lease.yaml"), lambda: read_lease(ws))
    except FileNotFoundError:
        return LeaseInfo(MISSING)
    except CorruptMetadata as exc:
        return LeaseInfo(STALE, f"lease file is unreadable: {exc.error}", None, None, exc)
    except OSError as exc:
        return LeaseInfo(STALE, f"lease file is unreadable: {exc.strerror}")
    return classify(lease, stale_after=stale_after, host=host or hostname())


LeaseReads = ParsedFiles[Lease]
"""Parsed leases of a long-lived process: between two heartbeats, ``status`` costs a stat, not a parse."""


Written = tuple[FileKey | None, Lease]
"""A lease as we wrote it, with its file's identity: while the file is still that one, no parse is needed."""


@dataclasses.dataclass(frozen=True)
class Claim:
    """What :func:`try_acquire_or_renew` found and did."""

    held: bool
    """The lease is ours now: taken, or renewed."""
    found: LeaseInfo | None = None
    """Taking: the lease that was there (when it was not taken, its state says why)."""
    lost: str | None = None
    """Renewing: why the lease is no longer ours (nothing was written)."""
    written: Written | None = None
    """What was written, for the next renewal."""


def try_acquire_or_renew(
    ws: Workspace,
    lease: Lease,
    *,
    renew: bool = False,
    last: Written | None = None,
    stale_after: float = 0.0,
    host: str | None = None,
    over_remote: bool = False,
    inherit_agent: bool = False,
    before_write: t.Callable[[LeaseInfo], None] | None = None,
) -> Claim:
    """Take ``lease`` for a session, or renew it: the one path that writes a lease file.

    Launch and adopt take, the heartbeat renews (like client-go's
    ``tryAcquireOrRenew``).  The caller holds the task's write lock.

    Renewing (``renew``): the lease there must still be ours (the same
    ``session_id``); then only ``heartbeat_at`` moves, written without fsync.
    ``last`` is what we wrote the time before: while the file is still that
    one, it is not parsed.  Anything else means ownership was lost
    (``Claim.lost`` says how) and nothing is written.

    Taking: the lease there is inspected.  An unreadable one raises its
    :class:`CorruptMetadata`; a fresh one is left alone (a ``fresh_remote`` one
    is taken only with ``over_remote``: the user said so); a missing or stale
    one is replaced, after ``before_write`` (the caller's last checks under
    the same lock, which may raise), and a stale one is logged as ``stale_seen``.
    With ``inherit_agent`` (adoption), the new lease names the agent of the
    lease it replaces, when there was one.
    """
    if renew:
        current: Lease | None = None
        lost: str | None = None
        if last is not None and file_identity(ws) == last[0]:
            current = last[1]  # the file is still the one we wrote last: no parse
        else:
            try:
                current = read_lease(ws)
            except FileNotFoundError:
                lost = "the lease was removed"
            except CorruptMetadata as exc:
                lost = f"the lease became unreadable ({exc.error})"
            else:
                if current.session_id != lease.session_id:
                    lost = f"the lease now belongs to {current.host} pid {current.pid}"
        if current is None or lost is not None:
            return Claim(False, lost=lost)
        renewed = dataclasses.replace(current, heartbeat_at=timeutil.now())
        write_lease(ws, renewed, durable=False)
        return Claim(True, written=(file_identity(ws), renewed))
    info = inspect_lease(ws, stale_after=stale_after, host=host)
    if info.error is not None:
        raise info.error
    if info.state == FRESH_LOCAL or (info.state == FRESH_REMOTE and not over_remote):
        return Claim(False, found=info)
    if before_write is not None:
        before_write(info)
    if info.state == STALE:
        records.event(ws, "stale_seen", reason=info.reason, session_id=info.lease.session_id if info.lease else None)
    if inherit_agent and info.lease is not None:
        lease = dataclasses.replace(lease, agent=info.lease.agent)
    write_lease(ws, lease)
    return Claim(True, found=info, written=(file_identity(ws), lease))


def is_ours(ws: Workspace, session_id: str) -> bool:
    """Whether the lease there is ``session_id``'s."""
    try:
        return read_lease(ws).session_id == session_id
    except (FileNotFoundError, CorruptMetadata, OSError):
        return False


def release(
    ws: Workspace,
    session_id: str | None,
    *,
    reason: str,
    stale_after: float,
    host: str | None = None,
    log: bool = True,
) -> bool:
    """Remove the lease: the one path that does.  The caller holds the task's write lock.

    ``session_id``: only while the lease is that session's; None (a session
    recorded with no owner): whoever's it is, unless its heartbeat is fresh.
    Logs ``lease_released`` with ``reason`` (unless ``log`` is False: the
    caller logs its own event).  Returns whether a lease was removed.
    """
    if session_id is not None:
        if not is_ours(ws, session_id):
            return False
    elif inspect_lease(ws, stale_after=stale_after, host=host).fresh:
        return False
    try:
        ws.lease_path.unlink()
    except FileNotFoundError:
        return False
    if log:
        records.event(ws, "lease_released", session_id=session_id, reason=reason)
    return True


def file_identity(ws: Workspace) -> FileKey | None:
    """The lease file's :data:`~ctask_ls.core.storage.FileKey`: every lease write is a new one."""
    return file_key(ws.control("lease.yaml"))
