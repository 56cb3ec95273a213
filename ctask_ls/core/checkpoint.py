"""Checkpoints (SPEC 3.13): the content of the agent's tree, kept deduplicated in the control directory.

The engine is a private git object database (``<control>/checkpoints``, a
bare repository only ctask writes) with a private index, driven by git's
plumbing, as Cline's shadow checkpoints are: content is stored once
whatever the number of checkpoints holding it, packs delta-compress it, and
the index's stat cache makes a checkpoint of an unchanged file a ``stat``.
The user's own repository, branches, index and refs are never touched,
for repo tasks too: every command runs with ``GIT_DIR`` the private store,
``GIT_INDEX_FILE`` its own index and ``GIT_WORK_TREE`` the agent's tree,
and with :data:`ctask_ls.core.git.SAFE_CONFIG`.

What a checkpoint holds is exactly what a manifest covers (the same walk,
the same ``ignore`` patterns; the tree's own ``.gitignore`` files do not
count): regular files and symlinks.  Files over ``snapshot_max_file``
bytes, special files, and paths git cannot hold (a ``.git`` component:
a repo task's worktree link, a nested repository's metadata) are kept by
metadata only, and the checkpoint lists them.

Taking one: the walk's paths go to ``git update-index --add --remove
--replace`` (which hashes only files whose stat changed), the ones no longer
there are removed from the index, then ``write-tree`` and ``commit-tree``
(no parent: pruning one frees what only it held) and a ref under ``refs/ctask/`` keep it; a checkpoint
of the same content as the one before shares its commit.
``checkpoints.jsonl`` lists them: number, commit, time, source (``start``,
``turn``, ``end``, ``manual``, ``revert``), message, session, counts.  A
``turn`` checkpoint of an unchanged tree is not taken.  Pruning keeps the
last ``checkpoint_keep`` and every session's ``start`` (the base of
``diff``); their objects go at the next ``gc``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import stat
import typing as t
from pathlib import Path

from ctask_ls.core import git, timeutil
from ctask_ls.core import manifest as manifests
from ctask_ls.core.errors import CtaskError, InvalidArgument, TaskBusy
from ctask_ls.core.storage import FileKey, append_line, atomic_write, file_key, read_limited

if t.TYPE_CHECKING:
    from ctask_ls.core.workspace import Workspace

STORE = "checkpoints"
LIST = "checkpoints.jsonl"
SOURCES = ("start", "turn", "end", "manual", "revert")
MAX_LIST_BYTES = 16 * 1024 * 1024
GC_EVERY = 50
"""A ``git gc --prune=now`` after this many checkpoints (pruned ones' objects go then)."""
IDENTITY = {
    "GIT_AUTHOR_NAME": "ctask",
    "GIT_AUTHOR_EMAIL": "ctask@localhost",
    "GIT_COMMITTER_NAME": "ctask",
    "GIT_COMMITTER_EMAIL": "ctask@localhost",
}
STORE_CONFIG = (
    "core.protectNTFS=false",  # a file named like a Windows short name is still the agent's file
    "core.protectHFS=false",
    "core.symlinks=true",
    "core.autocrlf=false",
    "core.safecrlf=false",
    "gc.auto=0",  # ctask runs gc itself, not in the middle of a checkpoint
    "core.quotepath=false",
)


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """One entry of ``checkpoints.jsonl``."""

    n: int
    commit: str
    at: str
    source: str
    message: str | None
    session_id: str | None
    counts: dict[str, int]
    """Files added, modified and deleted since the checkpoint before it."""
    metadata_only: dict[str, str]
    """Path -> why only its metadata is kept (``over snapshot_max_file``, ``special file``, ...)."""
    tree: str = ""
    """The git tree object of its content (a checkpoint of the same content reuses its commit)."""

    def to_json(self) -> dict[str, t.Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: t.Any) -> Checkpoint | None:
        try:
            counts = {k: int(data["counts"][k]) for k in ("added", "modified", "deleted")}
            only = data.get("metadata_only") or {}
            return cls(
                n=int(data["n"]),
                commit=str(data["commit"]),
                at=str(data["at"]),
                source=str(data["source"]),
                message=data.get("message") if isinstance(data.get("message"), str) else None,
                session_id=data.get("session_id") if isinstance(data.get("session_id"), str) else None,
                counts=counts,
                metadata_only={str(k): str(v) for k, v in only.items()} if isinstance(only, dict) else {},
                tree=str(data.get("tree") or ""),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


class Store:
    """The private object database of one task, over its agent's tree."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.dir = ws.control(STORE)
        self.index = os.path.join(self.dir, "ctask-index")
        self.list_path = Path(ws.control(LIST))

    # -- git ---------------------------------------------------------------------------------------

    def git(self, *args: str, input: bytes | None = None, allow_failure: bool = False) -> bytes:
        """Run git on the private store and its index over the agent's tree; stdout."""
        env = {"GIT_DIR": self.dir, "GIT_WORK_TREE": self.ws.tree_dir, "GIT_INDEX_FILE": self.index}
        env.update(IDENTITY)
        return git.plumbing(
            self.ws.tree_dir, args, env=env, config=STORE_CONFIG, input=input, allow_failure=allow_failure
        )

    def ensure(self) -> None:
        if os.path.isdir(os.path.join(self.dir, "objects")):
            return
        Path(self.dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        git.plumbing(self.ws.dir, ("init", "--bare", "-q", self.dir), env={}, config=STORE_CONFIG)

    # -- the list ------------------------------------------------------------------------------------

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, oldest first (lines that are not one are skipped)."""
        try:
            raw = read_limited(self.list_path, MAX_LIST_BYTES)
        except FileNotFoundError:
            return []
        out = []
        for line in raw.splitlines():
            with contextlib.suppress(ValueError):
                cp = Checkpoint.from_json(json.loads(line))
                if cp is not None:
                    out.append(cp)
        return out

    def resolve(self, ref: str | int | None, *, session_id: str | None = None) -> Checkpoint:
        """A checkpoint by number, commit prefix, or ``None``/``start``: the start of ``session_id``'s session (the
        base ``diff`` uses); InvalidArgument saying what exists when there is no such checkpoint."""
        all_ = self.checkpoints()
        name = self.ws.name
        if not all_:
            raise InvalidArgument(f"task {name} has no checkpoints yet; they are taken when a session starts")
        if ref is None or ref == "start":
            starts = [c for c in all_ if c.source == "start" and (session_id is None or c.session_id == session_id)]
            if not starts:
                raise InvalidArgument(
                    f"task {name} has no start checkpoint of its last session; see `ctask checkpoints {name}`"
                )
            return starts[-1]
        text = str(ref)
        if text.isdigit():
            hit = [c for c in all_ if c.n == int(text)]
        elif len(text) >= 4 and all(ch in "0123456789abcdef" for ch in text.lower()):
            hit = [c for c in all_ if c.commit.startswith(text.lower())]
        else:
            hit = []
        if len(hit) != 1:
            what = "matches more than one" if hit else "is not one of its checkpoints"
            raise InvalidArgument(
                f"checkpoint {text!r} {what} (task {name} has {all_[0].n} to {all_[-1].n}); "
                f"see `ctask checkpoints {name}`"
            )
        return hit[0]

    def start_of(self, session_id: str | None) -> Checkpoint | None:
        """The start checkpoint of ``session_id``'s session (its diffs' base); None when that session has none
        (taken before checkpoints existed, or the checkpoint failed) or the list cannot be read."""
        if session_id is None:
            return None
        try:
            return self.resolve(None, session_id=session_id)
        except (CtaskError, OSError):
            return None

    # -- taking one ------------------------------------------------------------------------------------

    def snapshot(
        self, manifest: manifests.Manifest, max_file: int, ignore: t.Sequence[str] = ()
    ) -> tuple[str, dict[str, str]]:
        """Bring the private index to ``manifest``'s files; the tree object and the metadata-only paths.

        Three ways, cheapest first: this process took the last snapshot and still has its manifest (the owner
        of a session: its turns and its end), so only what the two manifests' stat data says changed goes
        to git, and nothing at all for an unchanged tree; the store is new, so ``git add -A --force`` (which
        hashes with git's own walk) fills it and the difference is corrected; or every path goes to
        ``update-index``, which hashes only files whose stat changed.
        """
        self.ensure()
        keep, only = eligible(manifest, max_file)
        cached = _SNAPSHOTS.get(self.dir)
        index_key = file_key(self.index)
        if cached is not None and index_key is not None and cached[0] == index_key:
            d = manifests.diff(cached[2], manifest)
            if not (d.added or d.modified or d.deleted):
                return cached[1], only
            wanted = set(keep)
            gone = [p for p in (*d.deleted, *d.modified) if p not in wanted]
            changed = [p for p in (*d.added, *d.modified) if p in wanted]
        elif index_key is None:
            # The manifest's ignore patterns (gitignore's forms) as the store's excludes, so git's walk skips
            # them too; what git sees differently (the tree's own .gitignore files) is corrected after.
            exclude = Path(self.dir, "info", "exclude")
            exclude.parent.mkdir(exist_ok=True)
            exclude.write_text("".join(f"{p}\n" for p in ignore if "\n" not in p))
            self.git("add", "-A", "--ignore-errors", allow_failure=True)  # 1 for a nested repository
            gone, changed = self._against_index(keep)
        else:
            gone, _missing = self._against_index(keep)
            changed = keep  # every path: update-index hashes only those whose stat changed
        if gone:
            self.git("update-index", "-z", "--force-remove", "--stdin", input=_z(gone))
        if changed:
            # --remove: a file deleted since the walk goes; --replace: a file that became a directory (or the
            # other way round) replaces the entries in its way.  Unchanged files are a stat, not a hash.
            self.git("update-index", "-z", "--add", "--remove", "--replace", "--stdin", input=_z(changed))
        tree = self.git("write-tree").decode().strip()
        key = file_key(self.index)
        if key is not None:
            _SNAPSHOTS[self.dir] = (key, tree, manifest)
        return tree, only

    def _against_index(self, keep: list[str]) -> tuple[list[str], list[str]]:
        """(indexed paths that are not to be kept, paths to be kept that are not indexed)."""
        raw = self.git("ls-files", "-z").decode("utf-8", "surrogateescape")
        indexed = {p for p in raw.split("\0") if p}
        wanted = set(keep)
        return sorted(indexed - wanted), [p for p in keep if p not in indexed]

    def take(
        self,
        manifest: manifests.Manifest,
        *,
        source: str,
        max_file: int,
        keep: int,
        message: str | None = None,
        session_id: str | None = None,
        ignore: t.Sequence[str] = (),
    ) -> Checkpoint | None:
        """Take a checkpoint of ``manifest``'s files (the caller holds the task's write lock); None for a ``turn``
        that changed nothing since the last checkpoint."""
        if source not in SOURCES:
            raise ValueError(f"bad checkpoint source {source!r}")
        tree, only = self.snapshot(manifest, max_file, ignore)
        before = self.checkpoints()
        last = before[-1] if before else None
        parent_tree = (last.tree or self.git("rev-parse", f"{last.commit}^{{tree}}").decode().strip()) if last else None
        n = (last.n if last else 0) + 1
        if last is not None and parent_tree == tree:  # the same content: the same commit, nothing to count
            if source == "turn":
                return None
            commit, counts = last.commit, {"added": 0, "modified": 0, "deleted": 0}
        else:
            text = json.dumps({"source": source, "message": message, "session_id": session_id})
            # No parent: a chain would keep every pruned checkpoint reachable, so gc could never free one.
            commit = self.git("commit-tree", tree, "-m", text).decode().strip()
            self.git("update-ref", f"refs/ctask/{commit}", commit)
            counts = self.counts(parent_tree, tree)
        cp = Checkpoint(n, commit, timeutil.now_str(), source, message, session_id, counts, only, tree)
        append_line(self.list_path, cp.to_json())
        self.prune([*before, cp], keep)
        return cp

    def counts(self, old: str | None, new: str) -> dict[str, int]:
        out = {"added": 0, "modified": 0, "deleted": 0}
        if old is None:
            out["added"] = len(self.git("ls-tree", "-r", "-z", "--name-only", new).split(b"\0")) - 1
            return out
        for status, _path in self.changes(old, new):
            out[{"A": "added", "D": "deleted"}.get(status, "modified")] += 1
        return out

    def changes(self, old: str, new: str, paths: t.Sequence[str] = ()) -> list[tuple[str, str]]:
        """(status letter, path) of what differs between two trees or commits (no renames)."""
        raw = self.git("diff-tree", "-r", "-z", "--no-renames", "--name-status", old, new, "--", *paths)
        parts = raw.decode("utf-8", "surrogateescape").split("\0")
        return [(parts[i][:1], parts[i + 1]) for i in range(0, len(parts) - 1, 2) if parts[i]]

    def prune(self, all_: list[Checkpoint], keep: int) -> None:
        """Keep the last ``keep`` checkpoints and every session's start; gc every :data:`GC_EVERY`."""
        if len(all_) <= keep:
            return
        latest = all_[-1].n
        dropped = [c for c in all_[:-keep] if c.source != "start"]
        kept = [c for c in all_ if c not in dropped]
        still = {c.commit for c in kept}  # checkpoints of the same content share a commit
        for commit in {c.commit for c in dropped} - still:
            with contextlib.suppress(Exception):
                self.git("update-ref", "-d", f"refs/ctask/{commit}")
        atomic_write(self.list_path, "".join(json.dumps(c.to_json()) + "\n" for c in kept))
        if latest % GC_EVERY == 0:
            with contextlib.suppress(Exception):
                self.git("reflog", "expire", "--expire=now", "--all")
                self.git("gc", "-q", "--prune=now")

    # -- reading ----------------------------------------------------------------------------------------

    def blob(self, commit: str, path: str) -> tuple[str, bytes] | None:
        """(mode, content) of ``path`` in a checkpoint, None when it has no such file."""
        listed = self.git("ls-tree", "-z", commit, "--", path).split(b"\0")[0]
        if not listed:
            return None
        meta, _, _name = listed.partition(b"\t")
        mode, kind, sha = meta.decode().split()
        if kind != "blob":
            return None
        return mode, self.git("cat-file", "blob", sha)


_SNAPSHOTS: dict[str, tuple[FileKey, str, manifests.Manifest]] = {}
"""Per store, in this process: its index's file key, the tree and the manifest of the last snapshot taken here."""


def eligible(manifest: manifests.Manifest, max_file: int) -> tuple[list[str], dict[str, str]]:
    """(the paths whose content a checkpoint keeps, the others with why only their metadata is kept)."""
    keep: list[str] = []
    only: dict[str, str] = {}
    for path, kind, size in zip(manifest.paths, manifest.kinds, manifest.sizes, strict=True):
        if kind == "o":
            only[path] = "special file"
        elif kind == "f" and size > max_file:
            only[path] = f"over snapshot_max_file ({size} bytes)"
        elif ".git" in path.lower() and ".git" in path.lower().split("/"):
            only[path] = "a .git path, which git cannot hold"
        else:
            keep.append(path)
    return keep, only


def _z(paths: t.Iterable[str]) -> bytes:
    return b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths)


def within(ws: Workspace, path: str) -> str:
    """``path`` (relative to the tree, or absolute inside it) as a tree-relative ``/`` path; InvalidArgument when
    it leaves the tree."""
    tree = os.path.realpath(ws.tree_dir)
    full = os.path.normpath(os.path.join(tree, path))  # an absolute path stays itself
    rel = os.path.relpath(full, tree)
    if rel == "." or rel.startswith(("..", "/")):
        raise InvalidArgument(f"{path} is not a path inside task {ws.name}'s tree ({ws.tree_dir})")
    return rel.replace(os.sep, "/")


# -- revert -----------------------------------------------------------------------------------------------


class TreeChanged(TaskBusy):
    """The agent's tree changed while a revert ran: it stopped there (nothing is lost: a checkpoint came first).
    On the wire a ``TaskBusy``: something else is changing the task's files."""


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class _Tree:
    """Reads and writes inside the agent's tree that never follow a link: every directory on a path is opened
    with ``O_NOFOLLOW`` from the tree's own, so a directory the agent replaced by a symlink (to ``~``, say) is
    an error, never a way out.  ``verb`` names what is done in that error (``restore``, ``read``)."""

    def __init__(self, root: str, verb: str = "restore") -> None:
        self.root = root
        self.verb = verb

    @contextlib.contextmanager
    def parent(self, path: str, *, create: bool) -> t.Iterator[tuple[int, str]]:
        """(fd of ``path``'s directory, its last name); ``create``: make the missing directories."""
        *dirs, name = path.split("/")
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for part in dirs:
                try:
                    nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(part, 0o755, dir_fd=fd)
                    nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                        raise
                    link = stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode)
                    what = "a symbolic link" if link else "not a directory"
                    raise CtaskError(f"cannot {self.verb} {path}: {part} on its way is {what}") from None
                os.close(fd)
                fd = nxt
            yield fd, name
        finally:
            os.close(fd)

    def stat(self, path: str) -> os.stat_result | None:
        try:
            with self.parent(path, create=False) as (fd, name):
                return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError, CtaskError):
            return None

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError), self.parent(path, create=False) as (fd, name):
            os.unlink(name, dir_fd=fd)
        self.prune_dirs(path)

    def prune_dirs(self, path: str) -> None:
        """Remove the directories of ``path`` left empty, deepest first (never the tree itself)."""
        parts = path.split("/")[:-1]
        while parts:
            try:
                with self.parent("/".join(parts), create=False) as (fd, name):
                    os.rmdir(name, dir_fd=fd)
            except OSError:
                return
            parts.pop()

    def read(self, path: str, max_bytes: int) -> bytes | None:
        """The content of ``path`` (a symlink's: its target, as a checkpoint keeps it), None when there is no such
        file; InvalidArgument for a link on the way, a directory, a special file or more than ``max_bytes``.
        Never follows a link, on the way or at the end, and never opens anything but a regular file."""
        try:
            with self.parent(path, create=False) as (dir_fd, name):
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    return os.readlink(name, dir_fd=dir_fd).encode("utf-8", "surrogateescape")
                _regular(path, st, max_bytes)
                # O_NOFOLLOW and O_NONBLOCK: what the agent put there since the stat is neither followed nor
                # waited for (a FIFO); the fstat below sees what was opened.
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
                fd = os.open(name, flags, dir_fd=dir_fd)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except InvalidArgument:
            raise
        except CtaskError as exc:  # a link or a file on the way
            raise InvalidArgument(str(exc)) from None
        except OSError as exc:
            raise InvalidArgument(f"cannot {self.verb} {path}: {exc.strerror}") from None
        try:
            _regular(path, os.fstat(fd), max_bytes)
            chunks: list[bytes] = []
            got = 0
            while chunk := os.read(fd, min(1 << 20, max_bytes + 1 - got)):
                chunks.append(chunk)
                got += len(chunk)
                if got > max_bytes:  # it grew since the fstat
                    raise InvalidArgument(f"{path} is over snapshot_max_file (more than {max_bytes} bytes)")
            return b"".join(chunks)
        finally:
            os.close(fd)

    def write(self, path: str, mode: str, content: bytes) -> None:
        with self.parent(path, create=True) as (fd, name):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):  # a file that became a directory: back to a file
                    try:
                        os.rmdir(name, dir_fd=fd)
                    except OSError:
                        raise CtaskError(
                            f"cannot restore {path}: it is now a directory holding files no checkpoint has"
                        ) from None
            tmp = f".{name}.ctask-revert.{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=fd)
            if mode == "120000":
                os.symlink(content.decode("utf-8", "surrogateescape"), tmp, dir_fd=fd)
            else:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                out = os.open(tmp, flags, 0o755 if mode == "100755" else 0o644, dir_fd=fd)
                try:
                    view = memoryview(content)
                    while view:
                        view = view[os.write(out, view) :]
                finally:
                    os.close(out)
            os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)


def _regular(path: str, st: os.stat_result, max_bytes: int) -> None:
    """InvalidArgument unless ``st`` is a regular file of at most ``max_bytes``."""
    if stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"{path} is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise InvalidArgument(f"{path} is a special file: no content to show")
    if st.st_size > max_bytes:
        raise InvalidArgument(f"{path} is over snapshot_max_file ({st.st_size} bytes)")


def read_now(ws: Workspace, path: str, max_bytes: int) -> bytes | None:
    """The content of ``path`` (tree-relative, ``/``-separated, as :func:`within` gives) in ``ws``'s tree as it
    is now: :meth:`_Tree.read`, so a link the agent planted is never followed."""
    return _Tree(ws.tree_dir, "read").read(path, max_bytes)


def restore(
    store: Store, target: Checkpoint, before: Checkpoint, seen: manifests.Manifest, paths: t.Sequence[str]
) -> dict[str, list[str]]:
    """Make the tree's files ``target``'s (only ``paths``, when given): delete what it lacks, write what it has.

    ``before`` is the checkpoint just taken of the tree as it is, ``seen``
    the manifest it was taken from: a file that no longer matches it changed
    during the revert, which then stops with :class:`TreeChanged`.
    """
    tree = _Tree(store.ws.tree_dir)
    changes = store.changes(before.commit, target.commit, paths)
    index = {p: i for i, p in enumerate(seen.paths)}

    def unchanged(path: str) -> None:
        st, i = tree.stat(path), index.get(path)
        same = (st is None and i is None) or (
            st is not None and i is not None and st.st_size == seen.sizes[i] and st.st_mtime_ns == seen.mtimes[i]
        )
        if not same:
            raise TreeChanged(
                f"task {store.ws.name}: {path} changed while the revert ran, so it stopped there; nothing is lost: "
                f"`ctask revert {store.ws.name} --to {before.n}` brings back the tree as it was before",
                name=store.ws.name,
            )

    done: dict[str, list[str]] = {"deleted": [], "restored": []}
    for status, path in sorted(changes, key=lambda c: -c[1].count("/")):  # deepest first
        if status == "D":  # the agent added it: the target has no such file
            unchanged(path)
            tree.remove(path)
            done["deleted"].append(path)
    for status, path in sorted(changes, key=lambda c: c[1]):
        if status != "D":
            unchanged(path)
            found = store.blob(target.commit, path)
            if found is None:
                continue
            tree.write(path, *found)
            done["restored"].append(path)
    return done
