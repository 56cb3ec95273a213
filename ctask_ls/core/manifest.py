"""Manifests of a workspace's files and the diff of two of them.

A manifest maps each relative path (``/``-separated) to an :class:`Entry`:
kind (``file``, ``symlink`` or ``other``), size, mtime in ns, mode and, for
symlinks, the link target.  Directories are implied by the paths under them
(as in git): an empty directory is not an entry.  Symlinks are recorded and
never followed.  A directory that cannot be read is reported in ``errors`` and
skipped; a file deleted while the walk runs is simply not listed.

Excluded: ``task.yaml`` and ``.ctask/`` at the top, and every path matching an
``ignore`` pattern.  Patterns follow gitignore's common forms: ``name`` matches
that name at any depth, ``dir/`` only directories, a pattern with a ``/``
inside is anchored at the workspace root, ``*``, ``?``, ``[...]`` and ``**``
work as in git.  Negation (``!pattern``) is not supported and is ignored.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
import stat
import typing as t
from pathlib import Path

from ctask_ls.core.errors import CorruptMetadata

FILE = "file"
SYMLINK = "symlink"
OTHER = "other"

Entry = tuple[str, int, int, int, str | None]
"""(kind, size, mtime_ns, mode, link target or None)."""

_TOP_EXCLUDES = frozenset({"task.yaml", ".ctask"})


@dataclasses.dataclass
class Manifest:
    """A snapshot of the files of a workspace."""

    entries: dict[str, Entry]
    errors: list[str] = dataclasses.field(default_factory=list)
    """One line per directory that could not be read."""
    session_id: str | None = None
    """The session this manifest is the baseline of (start manifests only)."""
    captured_at: str | None = None

    @property
    def total_bytes(self) -> int:
        return sum(e[1] for e in self.entries.values())

    def to_json(self) -> str:
        """The manifest file: columns, not one object per file.

        ``paths`` and the parallel lists ``sizes``, ``mtimes_ns``, ``modes``,
        ``kinds`` (one letter per file: ``f`` file, ``l`` symlink, ``o``
        other) and ``targets`` (index -> link target).  Parsing lists of
        numbers is several times faster than 100,000 small objects, and the
        end-of-session diff starts by loading this file.
        """
        paths = list(self.entries)
        values = list(self.entries.values())
        return json.dumps(
            {
                "schema": 2,
                "session_id": self.session_id,
                "captured_at": self.captured_at,
                "errors": self.errors,
                "paths": paths,
                "kinds": "".join(_KIND_CODE[v[0]] for v in values),
                "sizes": [v[1] for v in values],
                "mtimes_ns": [v[2] for v in values],
                "modes": [v[3] for v in values],
                "targets": {str(i): v[4] for i, v in enumerate(values) if v[4] is not None},
            },
            separators=(",", ":"),
        )

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read a manifest file; FileNotFoundError passes through, anything wrong is CorruptMetadata.

        A file larger than :data:`MAX_MANIFEST_BYTES` is refused unread, so a
        runaway file cannot exhaust memory.
        """
        try:
            with path.open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > MAX_MANIFEST_BYTES:
                    raise ValueError(f"larger than {MAX_MANIFEST_BYTES} bytes")
                raw = fh.read(MAX_MANIFEST_BYTES + 1)
            if len(raw) > MAX_MANIFEST_BYTES:
                raise ValueError(f"larger than {MAX_MANIFEST_BYTES} bytes")
            if not raw.strip():
                raise ValueError("the file is empty")
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("schema") != 2:
                raise ValueError("not a ctask manifest (schema 2)")
            paths, kinds = data["paths"], data["kinds"]
            sizes, mtimes, modes = data["sizes"], data["mtimes_ns"], data["modes"]
            targets = data.get("targets") or {}
            n = len(paths)
            if not (isinstance(kinds, str) and len(kinds) == n == len(sizes) == len(mtimes) == len(modes)):
                raise ValueError("its columns have different lengths")
            if not all(isinstance(p, str) for p in paths) or not isinstance(targets, dict):
                raise ValueError("paths must be strings")
            if not all(type(x) is int for column in (sizes, mtimes, modes) for x in column):
                raise ValueError("sizes, times and modes must be integers")
            names = [_KIND_NAME[k] for k in kinds]
            links: list[str | None] = [None] * n
            for index, target in targets.items():
                links[int(index)] = str(target)
            entries = dict(zip(paths, zip(names, sizes, mtimes, modes, links, strict=True), strict=True))
            errors = data.get("errors") or []
            session_id = data.get("session_id")
            captured = data.get("captured_at")
            return cls(
                entries,
                [str(e) for e in errors] if isinstance(errors, list) else [],
                session_id if isinstance(session_id, str) else None,
                captured if isinstance(captured, str) else None,
            )
        except (ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError, RecursionError) as exc:
            why = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise CorruptMetadata(str(path), f"not a valid manifest: {why}", hint=MANIFEST_HINT) from exc


MAX_MANIFEST_BYTES = 512 << 20
"""Start manifests larger than this are refused unread (100,000 files with short paths take about 6 MB)."""

MANIFEST_HINT = (
    "it is the running session's baseline, which `ctask diff` reads; the session is still recorded "
    "when it ends (without it, an adopter or reconciliation moves it aside to *.corrupt-<time>)"
)


_KIND_CODE = {FILE: "f", SYMLINK: "l", OTHER: "o"}
_KIND_NAME = {v: k for k, v in _KIND_CODE.items()}


class IgnoreRules:
    """Compiled gitignore-style patterns."""

    def __init__(self, patterns: t.Iterable[str]) -> None:
        self.names: set[str] = set()
        self.dir_names: set[str] = set()
        regexes: list[tuple[bool, bool, re.Pattern[str]]] = []
        for raw in patterns:
            pat = raw.strip()
            if not pat or pat.startswith(("#", "!")):
                continue
            dir_only = pat.endswith("/")
            pat = pat.rstrip("/")
            anchored = "/" in pat
            pat = pat.lstrip("/")
            if not pat:
                continue
            if not anchored and not any(c in pat for c in "*?["):
                (self.dir_names if dir_only else self.names).add(pat)
                continue
            regexes.append((dir_only, anchored, re.compile(_translate(pat))))
        self.regexes = regexes

    def ignored(self, rel: str, name: str, is_dir: bool) -> bool:
        if name in self.names or (is_dir and name in self.dir_names):
            return True
        for dir_only, anchored, rx in self.regexes:
            if dir_only and not is_dir:
                continue
            if rx.fullmatch(rel if anchored else name):
                return True
        return False


def _translate(pat: str) -> str:
    parts = []
    for i, chunk in enumerate(pat.split("**")):
        if i:
            parts.append(".*")
        parts.append(fnmatch.translate(chunk).removeprefix("(?s:").removesuffix(")\\Z").replace(".*", "[^/]*"))
    rx = "".join(parts)
    return rx.replace(".*/", "(?:.*/)?") if "**/" in pat else rx


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW


def capture(
    root: Path,
    ignore: t.Iterable[str] = (".git/",),
    *,
    progress: t.Callable[[int], None] | None = None,
    progress_every: int = 5000,
) -> Manifest:
    """Walk ``root`` without following symlinks and record every file.

    The walk is relative to open directory descriptors (``scandir(fd)``,
    ``fstatat``, ``openat`` with ``O_NOFOLLOW``), as find(1) does: each stat
    resolves one name instead of a whole path, and a directory swapped for a
    symlink during the walk is never followed.
    """
    walker = _Walker(IgnoreRules(ignore), progress, progress_every)
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        return Manifest({}, [f".: {exc.strerror or exc}"])
    try:
        walker.walk(fd, "", 0)
    finally:
        os.close(fd)
    return Manifest(walker.entries, walker.errors)


class _Walker:
    def __init__(self, rules: IgnoreRules, progress: t.Callable[[int], None] | None, every: int) -> None:
        self.rules = rules
        self.has_rules = bool(rules.names or rules.dir_names or rules.regexes)
        self.entries: dict[str, Entry] = {}
        self.errors: list[str] = []
        self.progress = progress
        self.every = every
        self.next_report = every

    def walk(self, fd: int, prefix: str, depth: int) -> None:
        entries, errors, rules, has_rules = self.entries, self.errors, self.rules, self.has_rules
        s_isdir, s_islnk, s_isreg = stat.S_ISDIR, stat.S_ISLNK, stat.S_ISREG
        subdirs: list[str] = []
        try:
            it = os.scandir(fd)
        except OSError as exc:
            errors.append(f"{prefix.rstrip('/') or '.'}: {exc.strerror or exc}")
            return
        with it:
            for entry in it:
                name = entry.name
                if not prefix and name in _TOP_EXCLUDES:
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while we walk
                except OSError as exc:
                    errors.append(f"{prefix}{name}: {exc.strerror or exc}")
                    continue
                mode = st.st_mode
                if s_isdir(mode):
                    if not (has_rules and rules.ignored(prefix + name, name, True)):
                        subdirs.append(name)
                    continue
                rel = prefix + name
                if has_rules and rules.ignored(rel, name, False):
                    continue
                if s_isreg(mode):
                    entries[rel] = (FILE, st.st_size, st.st_mtime_ns, mode & 0o7777, None)
                elif s_islnk(mode):
                    try:
                        target: str | None = os.readlink(name, dir_fd=fd)
                    except OSError:
                        target = None
                    entries[rel] = (SYMLINK, st.st_size, st.st_mtime_ns, mode & 0o7777, target)
                else:
                    entries[rel] = (OTHER, 0, st.st_mtime_ns, mode & 0o7777, None)
        if self.progress is not None and len(entries) >= self.next_report:
            self.progress(len(entries))
            self.next_report = len(entries) + self.every
        for name in subdirs:
            rel = prefix + name
            if depth >= _MAX_DEPTH:
                errors.append(f"{rel}: deeper than {_MAX_DEPTH} levels, not walked")
                continue
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                continue
            except OSError as exc:
                errors.append(f"{rel}: {exc.strerror or exc}")
                continue
            try:
                self.walk(child, rel + "/", depth + 1)
            finally:
                os.close(child)


_MAX_DEPTH = 400


@dataclasses.dataclass(frozen=True)
class Diff:
    """What changed between two manifests; every list is sorted."""

    added: list[str]
    modified: list[str]
    deleted: list[str]
    added_bytes: int = 0
    modified_bytes: int = 0
    deleted_bytes: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "modified": len(self.modified), "deleted": len(self.deleted)}

    @property
    def bytes(self) -> dict[str, int]:
        return {"added": self.added_bytes, "modified": self.modified_bytes, "deleted": self.deleted_bytes}

    @property
    def empty(self) -> bool:
        return not (self.added or self.modified or self.deleted)

    def to_json(self) -> dict[str, t.Any]:
        return {
            "added": self.added,
            "modified": self.modified,
            "deleted": self.deleted,
            "counts": self.counts,
            "bytes": self.bytes,
        }


def diff(old: Manifest, new: Manifest) -> Diff:
    """``added``, ``modified`` (kind, size, mtime, mode or link target changed), ``deleted``."""
    before, after = old.entries, new.entries
    added = sorted(after.keys() - before.keys())
    deleted = sorted(before.keys() - after.keys())
    modified = sorted(p for p, e in after.items() if p in before and before[p] != e)
    return Diff(
        [printable(p) for p in added],
        [printable(p) for p in modified],
        [printable(p) for p in deleted],
        sum(after[p][1] for p in added),
        sum(after[p][1] for p in modified),
        sum(before[p][1] for p in deleted),
    )


def printable(path: str) -> str:
    """A path as summaries and editors show it: bytes that are not UTF-8 become ``\\xNN``.

    File names are bytes; Python keeps undecodable ones as surrogates, which
    YAML and JSON-RPC cannot carry.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return path
