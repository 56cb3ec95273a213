"""The composition root of ``ctask-ls``: the server and its features, each given what it needs.

Features are modules with a ``setup`` (esbonio's shape) that receive their
dependencies as parameters, so no feature reaches into another through the
server's attributes and no module imports back up: :mod:`.owned` (the
sessions this server owns), :mod:`.leases` (``ctask/leaseState``, given the
owner and :mod:`.activity`'s notifier, which it drives with each pass and
with each change :mod:`.watch` sees), :mod:`.sessions` (the ``ctask.*``
commands, given both).  Live diffs (:mod:`.diffs`) are driven by the
owner's tick.
"""

from __future__ import annotations

import logging
import typing as t

from . import activity, leases, owned, sessions
from .lifecycle import QuietExpectedErrors, setup_lifecycle
from .server import CtaskServer


def create_server(env: t.Mapping[str, str] | None = None) -> CtaskServer:
    """The server with every feature set up (esbonio style: one ``setup`` per module)."""
    logging.getLogger("pygls.protocol.json_rpc").addFilter(QuietExpectedErrors())
    server = CtaskServer(env)
    setup_lifecycle(server)
    owner = owned.setup(server)
    notifier = activity.setup(server)
    notifier.on_turn_end.append(owner.turn_ended)
    watcher = leases.setup(server, owner, notifier)
    sessions.setup(server, owner, watcher)
    return server
