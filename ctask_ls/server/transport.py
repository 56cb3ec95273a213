"""Who may connect to ``ctask-ls``, and how (SPEC sections 4 and 9).

stdio (the default) serves the process that started the server.  Every
listening transport serves **one client at a time**, and only the user:

``--socket PATH`` (:func:`bind_unix_socket`)
    A Unix socket, mode 0600, in a directory only the user can enter (created
    0700 when missing; a directory that is not the user's, or that group or
    others may enter, is refused).  A symlink at PATH is refused, never
    followed; a socket left by a dead server is removed, one a live server
    listens on is not.  The kernel's peer credentials (``SO_PEERCRED``) must
    name the user.  No token: the file permissions are the lock.

``--tcp`` / ``--ws``
    Bind 127.0.0.1 unless ``--host`` says otherwise, and require a secret
    token (:class:`Access`): ``$CTASK_LS_TOKEN`` when set (at least
    :data:`MIN_TOKEN_CHARS` characters; never on the command line, which any
    local user can read in ``/proc``), else ``secrets.token_urlsafe(32)``,
    generated at each start.  The token is written, with a newline, to a 0600
    file (:func:`write_token_file`): ``--token-file PATH``, else
    ``$XDG_RUNTIME_DIR/ctask/ls-PORT.token``, else
    ``<ctask home>/run/ls-PORT.token``; its path is printed on stderr, and the
    file is removed when the server exits.  A given token is written only when
    ``--token-file`` is given.  A host that is not a loopback address is
    refused at start unless ``$CTASK_LS_TOKEN`` gives the token.

    TCP (:func:`first_message`): the first message must be the
    ``initialize`` request with ``initializationOptions.token`` (what every
    LSP client can send: VS Code's ``initializationOptions``, Neovim's
    ``init_options``, eglot's ``:initializationOptions``).  It is compared
    with :func:`hmac.compare_digest` and removed before the settings are
    read.  Anything else first (another message, a wrong or missing token, an
    HTTP request, nothing within :data:`AUTH_TIMEOUT` seconds, more than
    :data:`AUTH_MAX_BYTES`) is answered with one -32600 ``Unauthorized``
    error and the connection is closed: nothing is executed.

    WebSocket (:meth:`WsPolicy.refusal`, in the opening handshake, before the
    upgrade): the ``Host`` header must be the address the server listens on
    (``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``, the ``--host``
    given; any IP literal for a wildcard ``--host``), else 403 (DNS
    rebinding); an ``Origin`` header must be absent or one of
    ``--allow-origin``, else 403 (web pages); ``Authorization: Bearer TOKEN``
    must carry the token, else 401.

One client at a time (:class:`Slot`)
    The first client that gets in (TCP: with the token; socket: with its
    first message, so a liveness probe that connects and closes never holds
    the server; WebSocket: at its upgrade) holds the server until it goes
    away (then the server releases its sessions and exits, as on stdio).  Another client
    that gets in meanwhile is refused with a one-line message (TCP and socket:
    a -32600 ``AnotherClientConnected`` error; WebSocket: HTTP 409 before the
    upgrade, or close code 1013 if it raced past) and never sees the first
    one's messages.  Connections that have not got in yet do not hold the
    server (over TCP and the socket at most :data:`MAX_PENDING` of them, each
    for at most :data:`AUTH_TIMEOUT` seconds; websockets times handshakes out
    after 10 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import stat
import struct
import typing as t
from pathlib import Path

from ctask_ls.core.api import default_home

from . import protocol, rpc

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

logger = logging.getLogger("ctask_ls.server.transport")

TOKEN_ENV = "CTASK_LS_TOKEN"
"""The environment variable that gives the token (removed from the server's environment once read)."""
MIN_TOKEN_CHARS = 16
"""The shortest token accepted from :data:`TOKEN_ENV`."""
TOKEN_OPTION = rpc.TOKEN_OPTION
AUTH_TIMEOUT = 10.0
"""Seconds a new connection has to present the token."""
AUTH_MAX_BYTES = 1024 * 1024
"""The largest first message read before the client is authenticated."""
MAX_PENDING = 8
"""Connections allowed to be authenticating at the same time; more are closed at once."""
UNAUTHORIZED = "Unauthorized"  # declared in ctask_ls.protocol.errors.RPC_ERRORS, like the two below
ANOTHER_CLIENT = "AnotherClientConnected"
BUSY_TEXT = "ctask-ls: another client is connected; one client at a time is served"
"""What a refused second client is told."""
LOOPBACK_NAMES = ("localhost",)
WILDCARDS = ("0.0.0.0", "::", "")
"""Hosts that mean "every address of this machine"."""
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s?#]+")


class TransportError(Exception):
    """A transport cannot be set up; the message is one line that says what to do."""


# -- the token ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Access:
    """The token of a ``--tcp``/``--ws`` server, and where it is written."""

    token: str
    given: bool
    """From :data:`TOKEN_ENV` (else generated at this start)."""
    file: Path | None
    """``--token-file``; None: the default place (generated token) or nowhere (given token)."""
    written: Path | None = None
    """The file the token was written to, once it is."""

    @classmethod
    def from_env(cls, env: t.MutableMapping[str, str], token_file: str | None) -> Access:
        """The token from :data:`TOKEN_ENV` (popped from ``env``), else a new one."""
        given = env.pop(TOKEN_ENV, None)
        file = Path(token_file).expanduser().absolute() if token_file else None
        if given is None:
            return cls(secrets.token_urlsafe(32), given=False, file=file)
        given = given.strip()
        hint = "use a long random secret (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        if len(given) < MIN_TOKEN_CHARS:
            raise TransportError(f"${TOKEN_ENV} is shorter than {MIN_TOKEN_CHARS} characters; {hint}")
        if not re.fullmatch(r"[\x21-\x7e]+", given):
            raise TransportError(f"${TOKEN_ENV} must be printable ASCII without spaces (it goes in a header); {hint}")
        return cls(given, given=True, file=file)

    def matches(self, presented: object) -> bool:
        """Whether ``presented`` is the token (constant time)."""
        if not isinstance(presented, str):
            return False
        return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), self.token.encode())

    def publish(self, env: Mapping[str, str], port: int) -> Path | None:
        """Write the token to its file (see the module docstring); the path, or None when none is written."""
        path = self.file
        if path is None:
            if self.given:
                return None
            path = default_token_dir(env) / f"ls-{port}.token"
        write_token_file(path, self.token, strict=self.file is None)
        self.written = path
        return path

    def unpublish(self) -> None:
        """Remove the token file if it still holds this token (never raises)."""
        path, self.written = self.written, None
        if path is None:
            return
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode) and os.read(fd, 4096).strip() == self.token.encode():
                    os.unlink(path)
            finally:
                os.close(fd)


def default_token_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_RUNTIME_DIR/ctask`` when that runtime directory is the user's, else ``<ctask home>/run``."""
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_absolute():
        with contextlib.suppress(OSError):
            st = os.stat(runtime)
            if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077:
                return Path(runtime) / "ctask"
    return default_home(env).absolute() / "run"


def private_dir(path: Path, what: str, *, strict: bool = True) -> Path:
    """``path`` as a directory fit for ``what`` (created 0700 when missing), or TransportError.

    ``strict``: the user's, and nobody else may enter it (the socket, the default
    token directory).  Else (the directory of a ``--token-file``, whose file is
    0600 anyway): the user's or root's, and nobody else may write to it.
    """
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.stat(path)
    except OSError as exc:
        raise TransportError(f"the directory {path} for {what} cannot be used: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise TransportError(f"{path}, the directory for {what}, is not a directory")
    owners = (os.getuid(),) if strict else (os.getuid(), 0)
    if st.st_uid not in owners:
        raise TransportError(f"{path}, the directory for {what}, belongs to uid {st.st_uid}, not to you")
    mode = stat.S_IMODE(st.st_mode)
    if mode & (0o077 if strict else 0o022):
        others = "group or others can enter it" if strict else "group or others can write to it"
        raise TransportError(
            f"{path}, the directory for {what}, is not private: {others} (mode {mode:o}); "
            f"use a directory only you can {'enter' if strict else 'write to'} (chmod 700 {path})"
        )
    return path


def write_token_file(path: Path, token: str, *, strict: bool = True) -> None:
    """Write ``token`` to ``path``, mode 0600, atomically; a symlink there is replaced, never followed."""
    private_dir(path.parent, "the token file", strict=strict)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, token.encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)  # replaces a symlink itself, not its target
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise TransportError(f"cannot write the token file {path}: {exc.strerror}") from None


# -- addresses ------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) reaches this machine only."""
    name = host.strip("[]")
    if name.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def check_host(host: str, access: Access | None) -> None:
    """Refuse a non-loopback ``--host`` unless the token is given (TransportError)."""
    if is_loopback(host):
        return
    if access is None or not access.given:
        raise TransportError(
            f"--host {host} is not a loopback address: anyone who can reach it could try the server; "
            f"to listen there, give a long random token in ${TOKEN_ENV} (and keep it secret)"
        )


def hostport(host: str, port: int) -> str:
    """``host:port`` as a Host header spells it (``[::1]:port`` for IPv6)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def host_allowed(value: str, bound: str, port: int) -> bool:
    """Whether a WebSocket ``Host`` header names this server, not a foreign name (DNS rebinding)."""
    value = value.strip().lower()
    match = re.fullmatch(r"(\[[0-9a-f:.]+\]|[^:\[\]]+):(\d{1,5})", value)
    if match is None or int(match.group(2)) != port:
        return False
    name = match.group(1)
    if name in ("127.0.0.1", "localhost", "[::1]") or name == hostport(bound.lower(), port).rsplit(":", 1)[0]:
        return True
    if bound in WILDCARDS:  # listening everywhere: any address of this machine, never a name
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            return False
        return True
    return False


def normalize_origin(origin: str) -> str:
    """An ``--allow-origin`` value as compared (lowercase, no trailing slash), or TransportError."""
    value = origin.strip().lower().rstrip("/")
    if not _ORIGIN.fullmatch(value):
        raise TransportError(
            f"--allow-origin {origin!r} is not an origin like https://example.org or http://127.0.0.1:8080"
        )
    return value


def shown(value: str, limit: int = 60) -> str:
    """A header value as a one-line message shows it."""
    text = "".join(c if c.isprintable() else "?" for c in value)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# -- one client at a time -------------------------------------------------------------------------


class Slot:
    """The one client the server serves (event loop only)."""

    def __init__(self) -> None:
        self.held = False
        self.pending = 0
        """Connections authenticating now."""

    def take(self) -> bool:
        """Take the server for a client that got in; False when another client holds it."""
        if self.held:
            return False
        self.held = True
        return True


# -- TCP and Unix sockets: the first message --------------------------------------------------------


def error_message(msg_id: object, kind: str, message: str) -> bytes:
    """A framed JSON-RPC error (``id`` null unless ``msg_id`` is a valid id)."""
    error = {"code": protocol.INVALID_REQUEST, "message": message, "data": {"kind": kind}}
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id if rpc.valid_id(msg_id) else None, "error": error}).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def refuse_stream(writer: asyncio.StreamWriter, msg_id: object, kind: str, message: str) -> None:
    """Tell the client why in one JSON-RPC error, then close the connection (never raises)."""
    peer = writer.get_extra_info("peername") or "a client"
    logger.warning("refused a connection from %s: %s", peer, message.removeprefix("ctask-ls: "))
    with contextlib.suppress(Exception):
        writer.write(error_message(msg_id, kind, message))
        async with asyncio.timeout(2):
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


class _Refused(Exception):
    def __init__(self, msg_id: object, problem: str) -> None:
        super().__init__(problem)
        self.msg_id = msg_id
        self.problem = problem


@dataclasses.dataclass
class First:
    """A connection's first message, read before the connection may hold the server."""

    body: bytes
    """What the protocol gets (over TCP: without the token)."""
    msg_id: object
    """Its id, to answer a refusal with."""


async def first_message(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, access: Access | None
) -> First | None:
    """The first message of a TCP (``access``) or Unix socket (None) connection; None: refused or gone, closed.

    Over TCP it must be an ``initialize`` request with the token, which is taken
    out.  On the Unix socket (where the peer is already known to be the user)
    any message will do: a connection that closes without sending one (a
    liveness probe) never holds the server.
    """
    msg_id: object = None
    try:
        async with asyncio.timeout(AUTH_TIMEOUT):
            body = await _read_first(reader)
        if access is None:
            return First(body, _id_of(body))
        data = _check_first(_parse(body), access)
        return First(json.dumps(data).encode(), data.get("id"))
    except _Refused as refused:
        msg_id, problem = refused.msg_id, refused.problem
    except TimeoutError:
        problem = f"no message within {AUTH_TIMEOUT:g} s"
    except (ConnectionError, asyncio.IncompleteReadError):
        with contextlib.suppress(Exception):
            writer.close()
        return None
    if access is None:
        await refuse_stream(writer, msg_id, "InvalidHeader", f"ctask-ls: {problem}; the connection is closed")
    else:
        await refuse_stream(writer, msg_id, UNAUTHORIZED, _unauthorized(problem))
    return None


def _unauthorized(what: str) -> str:
    return (
        f"ctask-ls: unauthorized ({what}); the first message must be 'initialize' with the server's token "
        f"in initializationOptions.{TOKEN_OPTION}; nothing was done"
    )


async def _read_first(reader: asyncio.StreamReader) -> bytes:
    def lost(problem: str) -> t.NoReturn:
        raise _Refused(None, problem)

    length = await rpc.read_header(rpc.StreamReader(reader), lost)
    if length is None:
        raise ConnectionError("the client went away")
    if length > AUTH_MAX_BYTES:
        lost(f"a first message of {length} bytes is over {AUTH_MAX_BYTES} bytes")
    return await reader.readexactly(length)


def _parse(body: bytes) -> object:
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        raise _Refused(None, "the first message is not JSON") from None


def _id_of(body: bytes) -> object:
    with contextlib.suppress(ValueError, RecursionError, AttributeError):
        return json.loads(body.decode("utf-8")).get("id")
    return None


def _check_first(data: object, access: Access) -> dict[str, t.Any]:
    if not isinstance(data, dict):
        raise _Refused(None, "the first message is not a JSON object")
    msg_id = data.get("id")
    method = data.get("method")
    if method != "initialize" or "id" not in data:
        raise _Refused(msg_id, f"the first message is {shown(method) if isinstance(method, str) else 'not a request'}")
    presented = rpc.drop_token(data)
    if presented is None:
        raise _Refused(msg_id, "no token")
    if not access.matches(presented):
        raise _Refused(msg_id, "wrong token")
    return data


def peer_uid(sock: socket.socket | None) -> int | None:
    """The uid of a Unix socket's peer (``SO_PEERCRED``), None when it cannot be read."""
    if sock is None:
        return None
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except OSError:
        return None
    return int(uid)


# -- Unix socket -----------------------------------------------------------------------------------


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


# -- WebSocket -------------------------------------------------------------------------------------


@dataclasses.dataclass
class WsPolicy:
    """What a WebSocket opening handshake must carry."""

    access: Access
    origins: frozenset[str]
    host: str
    port: int = 0
    """The port listened on (set once bound)."""

    def refusal(self, headers: _Headers, busy: bool) -> tuple[int, str] | None:
        """``(HTTP status, one-line reason)`` to refuse the handshake with, or None to upgrade."""
        hosts = headers.get_all("Host")
        if len(hosts) != 1 or not host_allowed(hosts[0], self.host, self.port):
            got = shown(hosts[0]) if len(hosts) == 1 else f"{len(hosts)} Host headers"
            return 403, (
                f"ctask-ls: refused: Host {got} is not the address this server listens on "
                f"({hostport('127.0.0.1', self.port)} or localhost:{self.port})"
            )
        origins = headers.get_all("Origin")
        if len(origins) > 1 or (origins and origins[0].strip().lower().rstrip("/") not in self.origins):
            got = shown(origins[0]) if len(origins) == 1 else f"{len(origins)} Origin headers"
            return 403, f"ctask-ls: refused: connections from Origin {got} are not allowed (see --allow-origin)"
        auth = headers.get_all("Authorization")
        scheme, _, presented = (auth[0] if len(auth) == 1 else "").strip().partition(" ")
        if scheme.lower() != "bearer" or not self.access.matches(presented.strip()):
            return 401, "ctask-ls: unauthorized: send the server's token as 'Authorization: Bearer TOKEN'"
        if busy:
            return 409, BUSY_TEXT
        return None


class _Headers(t.Protocol):
    def get_all(self, key: str) -> list[str]: ...


def allowed_origins(values: Iterable[str]) -> frozenset[str]:
    return frozenset(normalize_origin(v) for v in values)
