"""Manifests of a workspace's files and the diff of two of them.

A manifest maps each relative path (``/``-separated) to an :class:`Entry`:
kind (``file``, ``symlink`` or ``other``), size, mtime in ns, mode and, for
symlinks, the link target.  Directories are implied by the paths under them
(as in git): an empty directory is not an entry.  Symlinks are recorded and
never followed.  A directory that cannot be read is reported in ``errors`` and
skipped; a file deleted while the walk runs is simply not listed.

Excluded: every path matching an ``ignore`` pattern.  Patterns follow gitignore's common forms: ``name`` matches
that name at any depth, ``dir/`` only directories, a pattern with a ``/``
inside is anchored at the workspace root, ``*``, ``?``, ``[...]`` and ``**``
work as in git.  Negation (``!pattern``) is not supported and is ignored.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing as t
from pathlib import Path

from ctask_ls.core import walk as walking
from ctask_ls.core.errors import CorruptMetadata
from ctask_ls.core.storage import open_regular

SPLIT_AFTER = 0.04
"""Seconds of walking after which a capture splits what is left with a helper process."""

FILE = "file"
SYMLINK = "symlink"
OTHER = "other"

Entry = tuple[str, int, int, int, str | None]
"""(kind, size, mtime_ns, mode, link target or None)."""


class Manifest:
    """A snapshot of the files of a workspace, kept as parallel columns.

    ``paths`` and, at the same index, ``sizes``, ``mtimes``, ``modes`` and one
    letter of ``kinds`` (``f`` file, ``l`` symlink, ``o`` other); ``targets``
    maps the index of a symlink to its target.  The columns are what a capture
    builds and what the manifest file holds: 100,000 five-field tuples in a
    dict cost more to build (and to free) than the walk's bookkeeping does.
    ``entries`` is the per-path view of the same data, built on demand.
    """

    def __init__(
        self,
        entries: t.Mapping[str, Entry] | None = None,
        errors: list[str] | None = None,
        session_id: str | None = None,
        captured_at: str | None = None,
    ) -> None:
        values = list((entries or {}).values())
        self.paths: list[str] = list(entries or {})
        self.kinds: str = "".join(_KIND_CODE[v[0]] for v in values)
        self.sizes: list[int] = [v[1] for v in values]
        self.mtimes: list[int] = [v[2] for v in values]
        self.modes: list[int] = [v[3] for v in values]
        self.targets: dict[int, str] = {i: v[4] for i, v in enumerate(values) if v[4] is not None}
        self.errors: list[str] = errors if errors is not None else []
        """One line per directory that could not be read."""
        self.session_id = session_id
        """The session this manifest is the baseline of (start manifests only)."""
        self.captured_at = captured_at
        self._entries: _Entries | None = None

    @classmethod
    def from_columns(
        cls,
        paths: list[str],
        kinds: str,
        sizes: list[int],
        mtimes: list[int],
        modes: list[int],
        targets: dict[int, str],
        errors: list[str] | None = None,
    ) -> Manifest:
        m = cls(None, errors)
        m.paths, m.kinds, m.sizes, m.mtimes, m.modes, m.targets = paths, kinds, sizes, mtimes, modes, targets
        return m

    @property
    def entries(self) -> t.Mapping[str, Entry]:
        """Path -> (kind, size, mtime_ns, mode, link target or None), in capture order."""
        if self._entries is None:
            self._entries = _Entries(self)
        return self._entries

    def entry(self, index: int) -> Entry:
        return (
            _KIND_NAME[self.kinds[index]],
            self.sizes[index],
            self.mtimes[index],
            self.modes[index],
            self.targets.get(index),
        )

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes)

    def to_json(self) -> str:
        """The manifest file: columns, not one object per file.

        ``paths`` and the parallel lists ``sizes``, ``mtimes_ns``, ``modes``,
        ``kinds`` (one letter per file: ``f`` file, ``l`` symlink, ``o``
        other) and ``targets`` (index -> link target).  Parsing lists of
        numbers is several times faster than 100,000 small objects, and the
        end-of-session diff starts by loading this file.
        """
        return json.dumps(
            {
                "schema": 2,
                "session_id": self.session_id,
                "captured_at": self.captured_at,
                "errors": self.errors,
                "paths": self.paths,
                "kinds": self.kinds,
                "sizes": self.sizes,
                "mtimes_ns": self.mtimes,
                "modes": self.modes,
                "targets": {str(i): target for i, target in self.targets.items()},
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
            with os.fdopen(open_regular(path), "rb") as fh:
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
            # Type checks over whole columns at C speed (map(type, ...)), not a Python loop per value.
            if not isinstance(paths, list) or set(map(type, paths)) - {str} or not isinstance(targets, dict):
                raise ValueError("paths must be strings")
            if len(set(paths)) != n:
                raise ValueError("a path is listed twice")
            if any(not isinstance(column, list) or set(map(type, column)) - {int} for column in (sizes, mtimes, modes)):
                raise ValueError("sizes, times and modes must be integers")
            unknown = set(kinds) - _KIND_NAME.keys()
            if unknown:
                raise KeyError(min(unknown))
            links: dict[int, str] = {}
            for index, target in targets.items():
                i = int(index)
                if not 0 <= i < n:
                    raise IndexError(f"link target of entry {i}, which does not exist")
                links[i] = str(target)
            errors = data.get("errors") or []
            session_id = data.get("session_id")
            captured = data.get("captured_at")
            m = cls.from_columns(
                paths, kinds, sizes, mtimes, modes, links, [str(e) for e in errors] if isinstance(errors, list) else []
            )
            m.session_id = session_id if isinstance(session_id, str) else None
            m.captured_at = captured if isinstance(captured, str) else None
            return m
        except (ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError, RecursionError) as exc:
            why = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise CorruptMetadata(str(path), f"not a valid manifest: {why}", hint=MANIFEST_HINT) from exc


MAX_MANIFEST_BYTES = 512 << 20
"""Start manifests larger than this are refused unread (100,000 files with short paths take about 6 MB)."""

MANIFEST_HINT = (
    "it is the running session's baseline, which `ctask diff` reads; the session is still recorded "
    "when it ends (without it, an adopter or reconciliation moves it aside to *.corrupt-<time>)"
)


class _Entries(t.Mapping[str, Entry]):
    """``Manifest.entries``: a read-only mapping over the columns (an index is built on first lookup)."""

    def __init__(self, manifest: Manifest) -> None:
        self._m = manifest
        self._index: dict[str, int] | None = None

    def _at(self) -> dict[str, int]:
        if self._index is None:
            self._index = dict(zip(self._m.paths, range(len(self._m.paths)), strict=True))
        return self._index

    def __getitem__(self, path: str) -> Entry:
        return self._m.entry(self._at()[path])

    def __contains__(self, path: object) -> bool:
        return path in self._at()

    def __iter__(self) -> t.Iterator[str]:
        return iter(self._m.paths)

    def __len__(self) -> int:
        return len(self._m.paths)


_KIND_CODE = {FILE: "f", SYMLINK: "l", OTHER: "o"}
_KIND_NAME = {v: k for k, v in _KIND_CODE.items()}


def capture(
    root: Path,
    ignore: t.Iterable[str] = (".git/",),
    *,
    progress: t.Callable[[int], None] | None = None,
    progress_every: int = 5000,
    split: bool = True,
) -> Manifest:
    """Walk ``root`` without following symlinks and record every file (see :mod:`ctask_ls.core.walk`).

    A walk still going after :data:`SPLIT_AFTER` seconds hands half of the
    subdirectories left to a helper process (``split=False``: never); the
    manifest is the same either way.
    """
    walker = walking.Walker(
        walking.IgnoreRules(ignore), progress, progress_every, split_after=SPLIT_AFTER if split else None
    )
    try:
        fd = os.open(root, walking.DIR_FLAGS)
    except OSError as exc:
        return Manifest(None, [f".: {exc.strerror or exc}"])
    try:
        walker.walk(fd, "", 0)
    finally:
        os.close(fd)
    return Manifest.from_columns(*walker.columns())


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


_BLOCK = 256
"""Entries compared at once (as list slices) while aligning two manifests."""
_WINDOW = 1024
"""How far ahead a resync looks for the next common path."""
_MAX_RESYNCS = 64
"""Beyond this many resyncs the manifests have little order in common: pair the rest by dict."""


def diff(old: Manifest, new: Manifest) -> Diff:
    """``added``, ``modified`` (kind, size, mtime, mode or link target changed), ``deleted``.

    Two captures of one workspace list most paths in the same order (the walk
    order of a directory that did not change is stable), so the manifests are
    first aligned block by block, comparing list slices at C speed; only the
    entries around a change (and everything, when little order is shared)
    are paired through a dict, one Python step per entry.
    """
    pairs, old_rest, new_rest = _align(old.paths, new.paths)
    changed: list[tuple[int, int]] = []
    for i, j, k in pairs:
        if (
            old.mtimes[i : i + k] != new.mtimes[j : j + k]
            or old.sizes[i : i + k] != new.sizes[j : j + k]
            or old.modes[i : i + k] != new.modes[j : j + k]
            or old.kinds[i : i + k] != new.kinds[j : j + k]
            or ("l" in old.kinds[i : i + k] and (old.targets or new.targets))
        ):
            changed.extend(zip(range(i, i + k), range(j, j + k), strict=True))
    where = {old.paths[i]: i for i in old_rest}
    added_at: list[int] = []
    for j in new_rest:
        i = where.pop(new.paths[j], -1)
        if i < 0:
            added_at.append(j)
        else:
            changed.append((i, j))
    modified_at = [j for i, j in changed if old.entry(i) != new.entry(j)]
    return Diff(
        sorted(printable(new.paths[j]) for j in added_at),
        sorted(printable(new.paths[j]) for j in modified_at),
        sorted(printable(p) for p in where),
        sum(new.sizes[j] for j in added_at),
        sum(new.sizes[j] for j in modified_at),
        sum(old.sizes[i] for i in where.values()),
    )


def _align(old: list[str], new: list[str]) -> tuple[list[tuple[int, int, int]], list[int], list[int]]:
    """Pair equal runs of two path lists: (old start, new start, length) runs, then the unpaired indices of each.

    Paths are unique within a manifest, so a path paired here cannot also be
    unpaired on the other side; the caller pairs the unpaired ones by path.
    """
    pairs: list[tuple[int, int, int]] = []
    old_rest: list[int] = []
    new_rest: list[int] = []
    n_old, n_new = len(old), len(new)
    i = j = resyncs = 0
    while i < n_old and j < n_new:
        k = min(_BLOCK, n_old - i, n_new - j)
        if old[i : i + k] == new[j : j + k]:
            pairs.append((i, j, k))
            i += k
            j += k
            continue
        lo, hi = 0, k - 1  # the blocks differ: pair their common prefix (bisection on slices)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if old[i : i + mid] == new[j : j + mid]:
                lo = mid
            else:
                hi = mid - 1
        if lo:
            pairs.append((i, j, lo))
            i += lo
            j += lo
        resyncs += 1
        if resyncs > _MAX_RESYNCS:
            break
        # old[i] != new[j]: skip to the nearer of "new[j] further on in old" and "old[i] further on in new"
        try:
            skip_old = old.index(new[j], i + 1, i + 1 + _WINDOW) - i
        except ValueError:
            skip_old = _WINDOW + 1
        try:
            skip_new = new.index(old[i], j + 1, j + 1 + _WINDOW) - j
        except ValueError:
            skip_new = _WINDOW + 1
        if skip_old <= _WINDOW and skip_old <= skip_new:
            old_rest.extend(range(i, i + skip_old))
            i += skip_old
        elif skip_new <= _WINDOW:
            new_rest.extend(range(j, j + skip_new))
            j += skip_new
        else:
            old_rest.append(i)
            new_rest.append(j)
            i += 1
            j += 1
    old_rest.extend(range(i, n_old))
    new_rest.extend(range(j, n_new))
    return pairs, old_rest, new_rest


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
