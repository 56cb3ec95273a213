"""Who may reach a listening ``ctask-ls``: the token of ``--tcp``/``--ws`` and the addresses they may bind.

``--tcp`` and ``--ws`` bind 127.0.0.1 unless ``--host`` says otherwise, and
require a secret token (:class:`Access`): ``$CTASK_LS_TOKEN`` when set (at
least :data:`MIN_TOKEN_CHARS` characters; never on the command line, which
any local user can read in ``/proc``), else ``secrets.token_urlsafe(32)``,
generated at each start.  The token is written, with a newline, to a 0600
file (:func:`write_token_file`): ``--token-file PATH``, else
``$XDG_RUNTIME_DIR/ctask/ls-PORT.token``, else ``<ctask home>/run/ls-PORT.token``;
its path is printed on stderr, and the file is removed when the server exits.
A given token is written only when ``--token-file`` is given.  A host that is
not a loopback address is refused at start unless ``$CTASK_LS_TOKEN`` gives
the token (:func:`check_host`).  How a client presents the token is
:mod:`.transport`'s (TCP) and :mod:`.ws_handshake`'s (WebSocket).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import ipaddress
import os
import re
import secrets
import socket
import stat
import typing as t
from pathlib import Path

from ctask_ls.core.api import default_home

if t.TYPE_CHECKING:
    from collections.abc import Mapping

TOKEN_ENV = "CTASK_LS_TOKEN"
"""The environment variable that gives the token (removed from the server's environment once read)."""
MIN_TOKEN_CHARS = 16
"""The shortest token accepted from :data:`TOKEN_ENV`."""
LOOPBACK_NAMES = ("localhost",)


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
