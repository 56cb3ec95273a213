"""The WebSocket transport's opening handshake: Host (DNS rebinding), Origin (web pages), the token.

Checked in the handshake, before the upgrade (:meth:`WsPolicy.refusal`): the
``Host`` header must be the address the server listens on
(``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``, the ``--host`` given;
any IP literal for a wildcard ``--host``), else 403; an ``Origin`` header must
be absent or one of ``--allow-origin``, else 403; ``Authorization: Bearer
TOKEN`` must carry the token (:class:`.access.Access`), else 401; a second
client while one is connected gets 409 (:mod:`.transport`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import typing as t

from .access import Access, TransportError, hostport
from .transport import BUSY_TEXT, shown

if t.TYPE_CHECKING:
    from collections.abc import Iterable

WILDCARDS = ("0.0.0.0", "::", "")
"""Hosts that mean "every address of this machine"."""
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s?#]+")


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
