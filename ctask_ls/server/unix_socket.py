"""The ``--socket`` transport's listening socket: a private directory, mode 0600, the peer's uid.

A Unix socket, mode 0600, in a directory only the user can enter (created
0700 when missing; a directory that is not the user's, or that group or others
may enter, is refused: :func:`.access.private_dir`).  A symlink at PATH is
refused, never followed; a socket left by a dead server is removed, one a live
server listens on is not.  The kernel's peer credentials (``SO_PEERCRED``)
must name the user (:func:`peer_uid`).  No token: the file permissions are the lock.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import stat
import struct
from pathlib import Path

from .access import TransportError, private_dir

logger = logging.getLogger("ctask_ls.server.transport")


def peer_uid(sock: socket.socket | None) -> int | None:
    """The uid of a Unix socket's peer (``SO_PEERCRED``), None when it cannot be read."""
    if sock is None:
        return None
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except OSError:
        return None
    return int(uid)


def bind_unix_socket(path_arg: str) -> tuple[socket.socket, Path]:
    """A listening Unix socket at ``path_arg``, mode 0600, in a directory only the user can enter."""
    path = Path(path_arg).expanduser().absolute()
    private_dir(path.parent, "--socket")
    with contextlib.suppress(FileNotFoundError):
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            raise TransportError(
                f"--socket {path} is a symlink; refusing to follow it (remove it, or choose another path)"
            )
        if not stat.S_ISSOCK(st.st_mode):
            raise TransportError(f"--socket {path} exists and is not a socket; refusing to replace it")
        if st.st_uid != os.getuid():
            raise TransportError(f"--socket {path} belongs to uid {st.st_uid}, not to you")
        if _live(path):
            raise TransportError(f"--socket {path}: another server is listening on it")
        os.unlink(path)  # a stale socket of a server that is gone
        logger.info("removed the stale socket %s", path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # created 0600: no moment where it is open to anyone else
    try:
        sock.bind(str(path))
        path.chmod(0o600)
        sock.listen(16)
    except OSError as exc:
        sock.close()
        raise TransportError(f"cannot listen on --socket {path}: {exc.strerror or exc}") from None
    finally:
        os.umask(old)
    sock.setblocking(False)
    return sock, path


def _live(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        probe.connect(str(path))
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return False
        raise TransportError(f"--socket {path} cannot be checked ({exc.strerror}); refusing to replace it") from None
    finally:
        probe.close()
    return True


def remove_socket(path: Path, inode: int) -> None:
    """Remove the server's socket if it is still the one it created (never raises)."""
    with contextlib.suppress(OSError):
        if os.lstat(path).st_ino == inode:
            os.unlink(path)
