"""The walk behind a manifest: every file under a directory, without following symlinks.

Excluded: every path matching an ``ignore`` pattern (the tree holds no
control file since schema 2, so nothing else is).  Patterns follow gitignore's common forms: ``name`` matches
that name at any depth, ``dir/`` only directories, a pattern with a ``/``
inside is anchored at the workspace root, ``*``, ``?``, ``[...]`` and ``**``
work as in git.  Negation (``!pattern``) is not supported and is ignored.

The walk is relative to open directory descriptors (``scandir(fd)``,
``fstatat``, ``openat`` with ``O_NOFOLLOW``), as find(1) does: each stat
resolves one name instead of a whole path, and a directory swapped for a
symlink during the walk is never followed.  This module imports only the
standard library, so that a helper process (:class:`_Helper`) starts quickly.
"""

from __future__ import annotations

import marshal
import operator
import os
import stat
import sys
import time

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing (and re with it) costs the helper ~10 ms
if TYPE_CHECKING:
    import re
    import subprocess
    import typing as t

# Only what the walk itself needs is imported here (re, fnmatch and subprocess
# when used): the helper process imports this module, and its start-up is
# time the walk waits for.

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW
MAX_DEPTH = 400
_S_IFMT, _S_IFREG, _S_IFDIR, _S_IFLNK = 0o170000, stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK
_NAME_OF = operator.attrgetter("name")
_MODE_OF, _SIZE_OF, _MTIME_OF = (operator.attrgetter(a) for a in ("st_mode", "st_size", "st_mtime_ns"))


class IgnoreRules:
    """Compiled gitignore-style patterns."""

    def __init__(self, patterns: t.Iterable[str]) -> None:
        self.patterns = list(patterns)
        self.names: set[str] = set()
        self.dir_names: set[str] = set()
        regexes: list[tuple[bool, bool, re.Pattern[str]]] = []
        for raw in self.patterns:
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
            import re

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
    import fnmatch

    parts = []
    for i, chunk in enumerate(pat.split("**")):
        if i:
            parts.append(".*")
        parts.append(fnmatch.translate(chunk).removeprefix("(?s:").removesuffix(")\\Z").replace(".*", "[^/]*"))
    rx = "".join(parts)
    return rx.replace(".*/", "(?:.*/)?") if "**/" in pat else rx


class Walker:
    """Appends each file to the columns as it is stat'ed: one loop, no per-file object but the stat result.

    Regular files are the fast path (four appends); symlinks and other kinds
    also record their index in ``odd`` (and ``targets``).
    """

    def __init__(
        self,
        rules: IgnoreRules,
        progress: t.Callable[[int], None] | None = None,
        every: int = 5000,
        *,
        split_after: float | None = None,
    ) -> None:
        self.rules = rules
        self.split_after = split_after
        """Seconds after which a walk still going hands half of what is left to a helper process (None: never)."""
        self.started = time.monotonic()
        self.pending: list[int] = []
        """Subdirectories left to walk in each directory being walked, outermost first."""
        self.dir_rules = bool(rules.names or rules.dir_names or rules.regexes)
        """Directories need a look at the rules (``.git/``, the default, is a directory rule)."""
        self.file_rules = bool(rules.names or any(not dir_only for dir_only, _a, _rx in rules.regexes))
        """Files need one only when a rule can match a file."""
        self.paths: list[str] = []
        self.sizes: list[int] = []
        self.mtimes: list[int] = []
        self.modes: list[int] = []
        self.odd: dict[int, str] = {}
        self.targets: dict[int, str] = {}
        self.errors: list[str] = []
        self.progress = progress
        self.every = every
        self.next_report = every

    def walk(self, fd: int, prefix: str, depth: int) -> None:
        paths, sizes, mtimes, modes = self.paths, self.sizes, self.mtimes, self.modes
        add_path, add_size, add_mtime, add_mode = paths.append, sizes.append, mtimes.append, modes.append
        errors, rules, file_rules = self.errors, self.rules, self.file_rules
        subdirs: list[str] = []
        try:
            it = os.scandir(fd)
        except OSError as exc:
            errors.append(f"{prefix.rstrip('/') or '.'}: {exc.strerror or exc}")
            return
        with it:
            entries = list(it)
        if prefix and not file_rules:
            # A directory of regular files only (most of a big tree): every column at once, at C speed.
            try:
                stats = [entry.stat(follow_symlinks=False) for entry in entries]
            except OSError:  # gone or unreadable: the loop below reports it
                stats = []
            kinds = list(map(_MODE_OF, stats))
            if len(stats) == len(entries) and all(map(stat.S_ISREG, kinds)):
                paths += map(prefix.__add__, map(_NAME_OF, entries))
                sizes += map(_SIZE_OF, stats)
                mtimes += map(_MTIME_OF, stats)
                modes += map(stat.S_IMODE, kinds)
                entries = []
        for entry in entries:  # stat results are cached in each entry: no second system call
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # deleted while we walk
            except OSError as exc:
                errors.append(f"{prefix}{entry.name}: {exc.strerror or exc}")
                continue
            mode = st.st_mode
            kind = mode & _S_IFMT
            if kind == _S_IFDIR:
                subdirs.append(entry.name)
                continue
            name = entry.name
            if file_rules and rules.ignored(prefix + name, name, False):
                continue
            if kind == _S_IFREG:
                add_path(prefix + name)
                add_size(st.st_size)
                add_mtime(st.st_mtime_ns)
                add_mode(mode & 0o7777)
                continue
            index = len(paths)
            add_path(prefix + name)
            add_mtime(st.st_mtime_ns)
            add_mode(mode & 0o7777)
            if kind == _S_IFLNK:
                self.odd[index] = "l"
                add_size(st.st_size)
                try:
                    self.targets[index] = os.readlink(name, dir_fd=fd)
                except OSError:  # recorded without a target
                    continue
            else:
                self.odd[index] = "o"
                add_size(0)
        if self.progress is not None and len(paths) >= self.next_report:
            self.progress(len(paths))
            self.next_report = len(paths) + self.every
        todo = []
        for name in subdirs:
            if self.dir_rules and rules.ignored(prefix + name, name, True):
                continue
            todo.append(name)
        index, stop, helper = 0, len(todo), None
        self.pending.append(0)
        try:
            while index < stop:
                if helper is None and stop - index >= _SPLIT_MIN_DIRS and self._split_due():
                    middle = index + (stop - index) // 2
                    helper = _Helper.start(self, fd, prefix, depth, todo[middle:stop])
                    if helper is not None:
                        stop = middle
                self.pending[-1] = stop - index - 1
                self.walk_child(fd, prefix, depth, todo[index])
                index += 1
        finally:
            self.pending.pop()
        if helper is not None:
            helper.finish(self)

    def walk_child(self, fd: int, prefix: str, depth: int, name: str) -> None:
        """Walk the subdirectory ``name`` of the directory open as ``fd`` (at ``prefix``, ``depth``)."""
        rel = prefix + name
        if depth >= MAX_DEPTH:
            self.errors.append(f"{rel}: deeper than {MAX_DEPTH} levels, not walked")
            return
        try:
            child = os.open(name, DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            return
        except OSError as exc:
            self.errors.append(f"{rel}: {exc.strerror or exc}")
            return
        try:
            self.walk(child, rel + "/", depth + 1)
        finally:
            os.close(child)

    def _split_due(self) -> bool:
        """Time to split, and no directory further up has as much left to hand over (the shallowest splits)."""
        return (
            self.split_after is not None
            and time.monotonic() - self.started > self.split_after
            and all(left < _SPLIT_MIN_DIRS for left in self.pending[:-1])
            and bool(sys.executable)
        )

    def columns(self) -> tuple[list[str], str, list[int], list[int], list[int], dict[int, str], list[str]]:
        """(paths, kinds, sizes, mtimes, modes, targets, errors), as :meth:`Manifest.from_columns` takes them."""
        kinds = ["f"] * len(self.paths)
        for index, kind in self.odd.items():
            kinds[index] = kind
        return self.paths, "".join(kinds), self.sizes, self.mtimes, self.modes, self.targets, self.errors


class _Helper:
    """A second walker process for half of the subdirectories still to walk.

    Python's per-file work, not the system calls, bounds a walk (git status
    stats with several threads for the same reason); threads would share one
    GIL, so a large walk hands half of what is left to ``python -I -S`` running
    :func:`helper_main` on the same directory descriptor (``pass_fds``: the
    very directory, never a path that could have been swapped for a symlink).
    Its columns come back with ``marshal`` and are appended where the walk
    would have put them, so the result is the same, in the same order, as a
    walk in one process.  If the helper cannot start or fails, the walker
    walks those directories itself.
    """

    def __init__(self, proc: subprocess.Popen[bytes], fd: int, prefix: str, depth: int, names: list[str]) -> None:
        self.proc, self.fd, self.prefix, self.depth, self.names = proc, fd, prefix, depth, names

    @classmethod
    def start(cls, walker: Walker, fd: int, prefix: str, depth: int, names: list[str]) -> _Helper | None:
        walker.split_after = None  # one helper per walk
        import subprocess

        request = {"fd": fd, "prefix": prefix, "depth": depth, "names": names, "ignore": walker.rules.patterns}
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _HELPER_BOOT, _PACKAGE_PARENT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                pass_fds=(fd,),
            )
        except OSError:
            return None
        assert proc.stdin is not None
        try:
            with proc.stdin:
                proc.stdin.write(marshal.dumps(request))
        except OSError:
            pass  # it died before reading: finish() sees the failure and walks them here
        return cls(proc, fd, prefix, depth, names)

    def finish(self, walker: Walker) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            raw = self.proc.stdout.read()
        try:
            if self.proc.wait() != 0:
                raise ValueError(f"exit status {self.proc.returncode}")
            paths, sizes, mtimes, modes, odd, targets, errors = marshal.loads(raw)
            if not len(paths) == len(sizes) == len(mtimes) == len(modes):
                raise ValueError("columns of different lengths")
        except (ValueError, EOFError, TypeError):
            for name in self.names:
                walker.walk_child(self.fd, self.prefix, self.depth, name)
            return
        base = len(walker.paths)
        walker.paths += paths
        walker.sizes += sizes
        walker.mtimes += mtimes
        walker.modes += modes
        walker.odd.update((base + i, kind) for i, kind in odd.items())
        walker.targets.update((base + i, target) for i, target in targets.items())
        walker.errors += errors


_HELPER_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from ctask_ls.core import walk; walk.helper_main()"
_PACKAGE_PARENT = os.path.abspath(__file__).rsplit(os.sep, 3)[0]
"""The directory that holds the ``ctask_ls`` package (the helper runs isolated: ``-I`` ignores PYTHONPATH)."""
_SPLIT_MIN_DIRS = 4
"""A directory with fewer subdirectories left than this is not split."""


def helper_main() -> None:
    """The helper process: walk the directories named on stdin, marshal the columns to stdout."""
    request = marshal.loads(sys.stdin.buffer.read())
    walker = Walker(IgnoreRules(request["ignore"]))
    for name in request["names"]:
        walker.walk_child(request["fd"], request["prefix"], request["depth"], name)
    sys.stdout.buffer.write(
        marshal.dumps(
            (walker.paths, walker.sizes, walker.mtimes, walker.modes, walker.odd, walker.targets, walker.errors)
        )
    )
    sys.stdout.buffer.flush()
