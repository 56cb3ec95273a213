"""Atomic writes, safe opens and the task's write lock.

Every metadata write goes through :func:`atomic_write` (a temporary file in
the same directory, flush, fsync, rename) while the caller holds the
task's write lock.  :func:`write_lock` yields whether the lock was *had*:
a call site that can degrade checks the flag, prints one warning and takes its
documented fallback; :func:`require_lock` raises :class:`LockTimeout` instead.

Every control file is opened by :func:`open_regular`: never through a
symbolic link, never blocking on a FIFO, and only if it is a regular file.
Anything else is :class:`CorruptMetadata` (SPEC 2, 9), so a planted link can
neither redirect a write nor hang a reader.  Files are created 0600.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import stat
import time
import typing as t
from pathlib import Path

from ctask_ls.core.errors import CorruptMetadata, LockTimeout, TaskNotFound

# yaml is imported on first use: `ctask list` with a warm metadata cache
# does not need it, and start-up time is most of its run time.

FILE_MODE = 0o600
"""Every control file: only the user reads the agents' screens and records."""
DIR_MODE = 0o700
"""Every control directory."""

_SAFE = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def open_regular(path: str | Path, flags: int = os.O_RDONLY, *, hint: str = "") -> int:
    """Open a control file without following a symlink or blocking; only a regular file.

    Returns the descriptor (blocking mode restored).  FileNotFoundError passes
    through; a symlink, FIFO, device, socket or directory is CorruptMetadata.
    """
    try:
        fd = os.open(path, flags | _SAFE, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CorruptMetadata(str(path), "a symbolic link, which ctask never follows", hint=hint) from exc
        if exc.errno in (errno.ENXIO, errno.EISDIR, errno.ENODEV):
            raise CorruptMetadata(str(path), "not a regular file", hint=hint) from exc
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise CorruptMetadata(str(path), "not a regular file", hint=hint)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_limited(path: str | Path, limit: int, *, hint: str = "") -> bytes:
    """The bytes of a regular control file; CorruptMetadata when it has more than ``limit``."""
    fd = open_regular(path, hint=hint)
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(limit + 1)
    if len(raw) > limit:
        raise CorruptMetadata(str(path), f"larger than {limit} bytes", hint=hint)
    return raw


def yaml_module() -> tuple[t.Any, t.Any, t.Any]:
    """(yaml, loader, dumper): libyaml's safe loader and dumper when built in."""
    import yaml

    return yaml, getattr(yaml, "CSafeLoader", yaml.SafeLoader), getattr(yaml, "CSafeDumper", yaml.SafeDumper)


MAX_METADATA_BYTES = 1 << 20
"""Metadata files larger than this are reported as corrupt, never parsed."""


def atomic_write(path: Path, data: bytes | str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so that readers see old or new, never half.

    ``durable=False`` skips the fsync: for heartbeats, which are rewritten every
    few seconds and whose loss in a power cut only makes a lease look older.
    """
    import tempfile  # not at the top: `ctask list` with a warm cache never writes

    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` only the user can read: for secrets (the agent's environment).

    The bytes go to a new file that is created, never reused nor followed
    (``O_CREAT | O_EXCL | O_NOFOLLOW``) with mode 0600 whatever the umask,
    then renamed over ``path``: a reader sees all of it or nothing, and a
    link planted at ``path`` is replaced, never written through.
    """
    import secrets  # not at the top: only a launch writes a secret

    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask only takes bits away; nothing may add any
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def append_line(path: Path, record: t.Mapping[str, t.Any]) -> None:
    """Append one JSON line with a single ``write`` (O_APPEND) and fsync it.

    A file whose last line lacks its newline (truncated by a full disk or an
    editor) gets one first, so the new record never glues onto the broken line
    and is never lost with it; the broken line stays as it was.
    """
    line = (json.dumps(record, separators=(",", ":"), sort_keys=False, default=str) + "\n").encode()
    fd = open_regular(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def keep_aside(path: Path, stamp: str, *, move: bool = True) -> Path:
    """Give ``path``'s bytes a new name ``<name>.corrupt-<stamp>[-N]`` that never replaces a file.

    ``move`` False keeps ``path`` too (a hard link, or a copy where links are
    not supported), for a caller that removes it later in its usual order.
    FileNotFoundError passes through.
    """
    for n in range(1000):
        aside = path.with_name(f"{path.name}.corrupt-{stamp}" + (f"-{n}" if n else ""))
        try:
            os.link(path, aside)
        except FileExistsError:
            continue
        except FileNotFoundError:
            raise
        except OSError:  # no hard links here: copy, never over an existing file
            try:
                with path.open("rb") as src, aside.open("xb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
            except FileExistsError:
                continue
        if move:
            path.unlink()
        return aside
    raise FileExistsError(f"too many files named {path.name}.corrupt-{stamp}*")


def dump_yaml(data: t.Mapping[str, t.Any]) -> str:
    """YAML text of ``data``, without anchors or aliases (which :func:`parse_yaml_mapping` refuses)."""
    yaml, _loader, _dumper = yaml_module()
    text: str = yaml.dump(dict(data), Dumper=_plain_dumper(), sort_keys=False, allow_unicode=True)
    return text


@functools.cache
def _plain_dumper() -> type:
    """The safe dumper, writing an object met twice in full each time rather than as ``&id001`` and ``*id001``."""
    dumper = yaml_module()[2]
    return type("PlainDumper", (dumper,), {"ignore_aliases": lambda _self, _data: True})


def read_text_limited(path: str | Path, *, hint: str = "") -> str:
    """Read a metadata file; raise CorruptMetadata when it cannot be a sane one."""
    raw = read_limited(path, MAX_METADATA_BYTES, hint=hint)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptMetadata(str(path), f"not UTF-8 text: {exc.reason} at byte {exc.start}", hint=hint) from exc


def load_yaml_mapping(path: str | Path, *, hint: str = "") -> dict[str, t.Any]:
    """Parse a YAML mapping; FileNotFoundError passes through, anything else is CorruptMetadata."""
    return parse_yaml_mapping(read_text_limited(path, hint=hint), path, hint=hint)


def parse_yaml_mapping(text: str, path: str | Path, *, hint: str = "") -> dict[str, t.Any]:
    """Parse the text of a metadata file at ``path`` as a YAML mapping, else raise CorruptMetadata.

    Anchors and aliases (``&a``, ``*a``) are refused: ctask never writes
    them, and a few hundred bytes of nested aliases ("billion laughs") stand
    for billions of values that any later walk of the data (the metadata
    cache's JSON, a rewrite) would expand.
    """
    yaml, loader, _dumper = yaml_module()
    try:
        if ("&" in text or "*" in text) and (anchor := _first_anchor(yaml, text, loader)) is not None:
            raise CorruptMetadata(
                str(path), f"uses the YAML anchor or alias '{anchor}', which metadata never does", hint=hint
            )
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise CorruptMetadata(str(path), f"not valid YAML: {exc}", hint=hint) from exc
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        raise CorruptMetadata(str(path), f"the file is {kind}", hint=hint)
    return data


FileKey = tuple[int, int, int, int]
"""A file's identity (inode, size, mtime_ns, ctime_ns), the one key of every parsed-file cache.

Every metadata write is an atomic rename, which gives the file a new inode,
so a rewrite always has a new key; between writes a cache costs a ``stat``.
"""

T = t.TypeVar("T")


def file_key(path: str | Path) -> FileKey | None:
    """The :data:`FileKey` of ``path``, None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class ParsedFiles(t.Generic[T]):
    """Parsed files in memory, each valid while its :data:`FileKey` stays (a long-lived process).

    For display only (``status``, ``list``, the server's lease watcher): no
    write decision is ever taken from a cached value.
    """

    def __init__(self) -> None:
        self._parsed: dict[str, tuple[FileKey, T]] = {}

    def get(self, path: str, parse: t.Callable[[], T]) -> T:
        """``parse()``, or its result from last time if ``path`` has not changed; FileNotFoundError passes."""
        key = file_key(path)
        if key is None:
            raise FileNotFoundError(path)
        hit = self._parsed.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = parse()  # errors are not cached: a corrupt file is reported every time
        self._parsed[path] = (key, value)
        return value

    def forget(self, keep: t.Callable[[str], bool]) -> None:
        """Drop every entry whose path ``keep`` refuses (tasks that went)."""
        for path in [p for p in self._parsed if not keep(p)]:
            del self._parsed[path]


def _first_anchor(yaml: t.Any, text: str, loader: t.Any) -> str | None:
    """The name of the first anchor or alias in ``text`` (parser events only: nothing is built), else None."""
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            return str(event.anchor)
    return None


class MetadataCache:
    """Parsed metadata keyed by file identity, so ``list`` re-parses only what changed.

    Parsing YAML costs far more than a ``stat``; with 1,000 tasks it dominated
    ``ctask list``.  Entries are keyed by :data:`FileKey`.  The cache is only ever *read* for
    display (``list``, ``last``); no write decision is taken from it.  A
    missing, unreadable or corrupt cache file is simply rebuilt.  Unlike
    :class:`ParsedFiles` it is saved between runs, as JSON.
    """

    def __init__(self, path: Path | None) -> None:
        """``path`` None keeps the cache in memory only (a long-running server)."""
        self.path = path
        self.dirty = False
        try:
            if path is None:
                raise FileNotFoundError
            data = json.loads(path.read_bytes())
            self.entries: dict[str, list[t.Any]] = data["entries"] if data.get("schema") == 1 else {}
            if not isinstance(self.entries, dict):
                self.entries = {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.entries = {}
        self.seen: set[str] = set()

    def get(self, path: str, parse: t.Callable[[str], dict[str, t.Any]]) -> dict[str, t.Any]:
        """``parse(path)``, or its cached result when the file has not changed."""
        found = file_key(path)
        if found is None:
            raise FileNotFoundError(path)  # as parse would
        key = list(found)
        name = path
        self.seen.add(name)
        cached = self.entries.get(name)
        if isinstance(cached, list) and len(cached) == 2 and cached[0] == key and isinstance(cached[1], dict):
            return cached[1]
        value = parse(path)  # errors are not cached: a corrupt file is reported every time
        try:  # only plain JSON is cached (a hand-written YAML time is a datetime)
            json.dumps(value)
        except (TypeError, ValueError):
            return value
        self.entries[name] = [key, value]
        self.dirty = True
        return value

    def save(self) -> None:
        """Write the cache back if it changed, dropping files no longer seen."""
        stale = self.entries.keys() - self.seen
        if self.path is None or (not self.dirty and not stale):
            return
        for name in stale:
            del self.entries[name]
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps({"schema": 1, "entries": self.entries}, separators=(",", ":")))


@contextlib.contextmanager
def write_lock(path: Path, timeout: float) -> t.Iterator[bool]:
    """Hold the write lock at ``path`` for the block; yield False if it was skipped.

    An exclusive ``flock`` on the lock file, opened by ctask itself through
    :func:`open_regular` (never through a symlink, never truncated, created
    0600): two holders in one process exclude each other as well as two
    processes (each open is its own lock), and a dead holder frees the lock.
    Compatible with filelock's ``FileLock`` on the same file.
    Raises TaskNotFound when the lock's directory is gone (the task was removed).
    """
    import fcntl

    try:
        fd = open_regular(path, os.O_RDWR | os.O_CREAT)
    except FileNotFoundError as exc:  # never bring a removed task back
        raise TaskNotFound(f"{path.parent} was removed", path=str(path)) from exc
    try:
        deadline = time.monotonic() + max(timeout, 0.0)
        pause = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    yield False
                    return
                time.sleep(min(pause, left))
                pause = min(pause * 2, 0.05)
        yield True
    finally:
        os.close(fd)  # which releases the lock


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
