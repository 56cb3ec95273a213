"""Atomic writes and the workspace write lock.

Every metadata write goes through :func:`atomic_write` (a temporary file in
the same directory, flush, fsync, rename) while the caller holds the
workspace's write lock.  :func:`write_lock` yields whether the lock was *had*:
a call site that can degrade checks the flag, prints one warning and takes its
documented fallback; :func:`require_lock` raises :class:`LockTimeout` instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import typing as t
from pathlib import Path

import filelock
import yaml

from ctask_ls.core.errors import CorruptMetadata, LockTimeout

# libyaml makes task listing several times faster; both are safe (no object tags).
_Loader: t.Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: t.Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

MAX_METADATA_BYTES = 1 << 20
"""Metadata files larger than this are reported as corrupt, never parsed."""


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` so that readers see old or new, never half."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def append_line(path: Path, record: t.Mapping[str, t.Any]) -> None:
    """Append one JSON line with a single ``write`` (O_APPEND) and fsync it."""
    line = (json.dumps(record, separators=(",", ":"), sort_keys=False, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def dump_yaml(data: t.Mapping[str, t.Any]) -> str:
    text: str = yaml.dump(dict(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return text


def read_text_limited(path: Path) -> str:
    """Read a metadata file; raise CorruptMetadata when it cannot be a sane one."""
    with path.open("rb") as fh:
        raw = fh.read(MAX_METADATA_BYTES + 1)
    if len(raw) > MAX_METADATA_BYTES:
        raise CorruptMetadata(str(path), f"larger than {MAX_METADATA_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptMetadata(str(path), f"not UTF-8 text: {exc.reason} at byte {exc.start}") from exc


def load_yaml_mapping(path: Path, *, hint: str = "") -> dict[str, t.Any]:
    """Parse a YAML mapping; FileNotFoundError passes through, anything else is CorruptMetadata."""
    text = read_text_limited(path)
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise CorruptMetadata(str(path), f"not valid YAML: {exc}", hint=hint) from exc
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        raise CorruptMetadata(str(path), f"the file is {kind}", hint=hint)
    return data


@contextlib.contextmanager
def write_lock(path: Path, timeout: float) -> t.Iterator[bool]:
    """Hold the write lock at ``path`` for the block; yield False if it was skipped.

    Locks are ``flock``-based (filelock), so two holders in one process exclude
    each other as well as two processes, and a dead holder frees the lock.
    """
    lock = filelock.FileLock(path, timeout=timeout, thread_local=False, preserve_lock_file=True)
    try:
        lock.acquire()
    except filelock.Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


@contextlib.contextmanager
def require_lock(path: Path, timeout: float, *, what: str) -> t.Iterator[None]:
    """Like :func:`write_lock`, but a lock that cannot be had is an error."""
    with write_lock(path, timeout) as held:
        if not held:
            raise LockTimeout(
                f"could not lock {path} within {timeout:g}s to {what}; another ctask is writing it, try again",
                path=str(path),
            )
        yield
