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
import typing as t
from pathlib import Path

from ctask_ls.core.errors import CorruptMetadata, LockTimeout, TaskNotFound

# yaml and filelock are imported on first use: `ctask list` with a warm
# metadata cache needs neither, and start-up time is most of its run time.


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
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
    yaml, _loader, dumper = yaml_module()
    text: str = yaml.dump(dict(data), Dumper=dumper, sort_keys=False, allow_unicode=True)
    return text


def read_text_limited(path: str | Path, *, hint: str = "") -> str:
    """Read a metadata file; raise CorruptMetadata when it cannot be a sane one."""
    with open(path, "rb") as fh:
        raw = fh.read(MAX_METADATA_BYTES + 1)
    if len(raw) > MAX_METADATA_BYTES:
        raise CorruptMetadata(str(path), f"larger than {MAX_METADATA_BYTES} bytes", hint=hint)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptMetadata(str(path), f"not UTF-8 text: {exc.reason} at byte {exc.start}", hint=hint) from exc


def load_yaml_mapping(path: str | Path, *, hint: str = "") -> dict[str, t.Any]:
    """Parse a YAML mapping; FileNotFoundError passes through, anything else is CorruptMetadata."""
    return parse_yaml_mapping(read_text_limited(path, hint=hint), path, hint=hint)


def parse_yaml_mapping(text: str, path: str | Path, *, hint: str = "") -> dict[str, t.Any]:
    """Parse the text of a metadata file at ``path`` as a YAML mapping, else raise CorruptMetadata."""
    yaml, loader, _dumper = yaml_module()
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise CorruptMetadata(str(path), f"not valid YAML: {exc}", hint=hint) from exc
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        raise CorruptMetadata(str(path), f"the file is {kind}", hint=hint)
    return data


class MetadataCache:
    """Parsed metadata keyed by file identity, so ``list`` re-parses only what changed.

    Parsing YAML costs far more than a ``stat``; with 1,000 tasks it dominated
    ``ctask list``.  Entries are keyed by (inode, size, mtime_ns, ctime_ns).
    Every metadata write is an atomic rename, which gives the file a new inode,
    so a rewrite always misses the cache.  The cache is only ever *read* for
    display (``list``, ``last``); no write decision is taken from it.  A
    missing, unreadable or corrupt cache file is simply rebuilt.
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
        st = os.stat(path)  # FileNotFoundError passes through, as parse would raise it
        key = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
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

    Locks are ``flock``-based (filelock), so two holders in one process exclude
    each other as well as two processes, and a dead holder frees the lock.
    Raises TaskNotFound when the lock's directory is gone (the task was removed).
    """
    import filelock

    if not path.parent.is_dir():
        # filelock would create the directory: never bring a removed workspace back.
        raise TaskNotFound(f"{path.parent.parent} was removed", path=str(path))
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
