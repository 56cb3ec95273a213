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

Depth is unlimited: the walk keeps a stack of directories (:class:`_Frame`),
never Python's call stack, and holds at most :data:`OPEN_DIRS` of them open.
A directory whose last subdirectory is being walked is closed at once (a
chain ten thousand levels deep holds one); one closed to stay within the
budget is reopened as ``..`` of the directory below it and must be the very
directory it was (device and inode), else what was left of it is reported as
moved and not walked.
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
OPEN_DIRS = 64
"""At most this many directories of one walk are open at once (the walk's own start directory aside)."""
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
        """Walk the directory open as ``fd`` (left open) at ``prefix``: its files, then each subdirectory's in turn.

        The same order as a recursive walk, to any depth (see the module's docstring).
        """
        stack = [_Frame(fd, prefix, depth, self._scan(fd, prefix), owned=False)]
        opened = 0
        """Frames of this walk with a directory open (the start directory aside)."""
        low = 1
        """No frame below this index is open, except the start directory and frames with a helper."""
        try:
            while stack:
                frame = stack[-1]
                if frame.index >= frame.stop:  # done with this directory
                    stack.pop()
                    if frame.helper is not None:
                        frame.helper.finish(self)
                    if stack and stack[-1].fd < 0:
                        opened += self._reopen(stack[-1], frame)
                        low = min(low, len(stack) - 1)
                    if frame.owned and frame.fd >= 0:
                        os.close(frame.fd)
                        opened -= 1
                    continue
                if frame.helper is None and frame.stop - frame.index >= _SPLIT_MIN_DIRS and self._split_due(stack):
                    middle = frame.index + (frame.stop - frame.index) // 2
                    frame.helper = _Helper.start(
                        self, frame.fd, frame.prefix, frame.depth, frame.todo[middle : frame.stop]
                    )
                    if frame.helper is not None:
                        frame.stop = middle
                name = frame.todo[frame.index]
                frame.index += 1
                rel = frame.prefix + name
                try:
                    child = os.open(name, DIR_FLAGS, dir_fd=frame.fd)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    self.errors.append(f"{rel}: {exc.strerror or exc}")
                    continue
                try:
                    todo = self._scan(child, rel + "/")
                except BaseException:
                    os.close(child)
                    raise
                if not todo:  # no subdirectory: no frame
                    os.close(child)
                    continue
                up = 1
                if frame.index >= frame.stop and frame.helper is None and frame.owned:
                    stack.pop()  # its last subdirectory: nothing left to come back for
                    up += frame.up
                    os.close(frame.fd)
                    opened -= 1
                stack.append(_Frame(child, rel + "/", frame.depth + 1, todo, owned=True, up=up))
                opened += 1
                if opened > OPEN_DIRS:  # close the outermost open directory that can be
                    top = len(stack) - 1
                    while low < top and (stack[low].fd < 0 or stack[low].helper is not None):
                        low += 1
                    if low < top:
                        stack[low].close()
                        opened -= 1
        finally:
            for frame in stack:
                if frame.owned and frame.fd >= 0:
                    os.close(frame.fd)

    def _reopen(self, frame: _Frame, below: _Frame) -> int:
        """Reopen ``frame``'s directory as ``..`` of ``below`` (``below.up`` levels up), checking it is the same.

        Returns 1 when it is open again; else the rest of it is reported and skipped.
        """
        fd = -1
        try:
            if below.fd < 0:
                raise OSError("the directory below it was lost")
            for _ in range(below.up):
                parent = os.open("..", DIR_FLAGS, dir_fd=below.fd if fd < 0 else fd)
                if fd >= 0:
                    os.close(fd)
                fd = parent
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != frame.ident:
                raise OSError("moved")
        except OSError:
            if fd >= 0:
                os.close(fd)
            self.errors.append(f"{frame.prefix.rstrip('/')}: moved during the walk, the rest of it not walked")
            frame.index = frame.stop
            return 0
        frame.fd = fd
        return 1

    def _scan(self, fd: int, prefix: str) -> list[str]:
        """Record the files of the directory open as ``fd`` (at ``prefix``); return its subdirectories to walk."""
        paths, sizes, mtimes, modes = self.paths, self.sizes, self.mtimes, self.modes
        add_path, add_size, add_mtime, add_mode = paths.append, sizes.append, mtimes.append, modes.append
        errors, rules, file_rules = self.errors, self.rules, self.file_rules
        subdirs: list[str] = []
        try:
            it = os.scandir(fd)
        except OSError as exc:
            errors.append(f"{prefix.rstrip('/') or '.'}: {exc.strerror or exc}")
            return []
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
        return todo

    def walk_child(self, fd: int, prefix: str, depth: int, name: str) -> None:
        """Walk the subdirectory ``name`` of the directory open as ``fd`` (at ``prefix``, ``depth``)."""
        rel = prefix + name
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

    def _split_due(self, stack: list[_Frame]) -> bool:
        """Time to split, and no directory further up has as much left to hand over (the shallowest splits)."""
        return (
            self.split_after is not None
            and time.monotonic() - self.started > self.split_after
            and all(f.stop - f.index < _SPLIT_MIN_DIRS for f in stack[:-1])
            and bool(sys.executable)
        )

    def columns(self) -> tuple[list[str], str, list[int], list[int], list[int], dict[int, str], list[str]]:
        """(paths, kinds, sizes, mtimes, modes, targets, errors), as :meth:`Manifest.from_columns` takes them."""
        kinds = ["f"] * len(self.paths)
        for index, kind in self.odd.items():
            kinds[index] = kind
        return self.paths, "".join(kinds), self.sizes, self.mtimes, self.modes, self.targets, self.errors


class _Frame:
    """A directory being walked: its subdirectories to walk and how far the walk got."""

    __slots__ = ("depth", "fd", "helper", "ident", "index", "owned", "prefix", "stop", "todo", "up")

    def __init__(self, fd: int, prefix: str, depth: int, todo: list[str], *, owned: bool, up: int = 1) -> None:
        self.fd = fd
        """The open directory; -1 while closed (see :data:`OPEN_DIRS`)."""
        self.prefix, self.depth, self.todo = prefix, depth, todo
        self.index, self.stop = 0, len(todo)
        """``todo[index:stop]`` is left to walk here (a helper took ``todo[stop:]``)."""
        self.helper: _Helper | None = None
        self.owned = owned
        """The walk opened it (it closes it); the start directory is the caller's."""
        self.ident = (0, 0)
        """Device and inode, recorded when it is closed to be reopened later."""
        self.up = up
        """How many ``..`` lead from it to the frame below it on the stack (more than one: directories
        left behind whose last subdirectory this is)."""

    def close(self) -> None:
        st = os.fstat(self.fd)
        self.ident = (st.st_dev, st.st_ino)
        os.close(self.fd)
        self.fd = -1


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
