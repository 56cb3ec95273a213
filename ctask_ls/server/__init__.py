"""``ctask-ls``: the language-server front door over the session core.

Modules: :mod:`.protocol` (command and notification names, payloads, error
codes), :mod:`.settings` (editor settings over the shared config),
:mod:`.framing` (reading a stream transport, the size limit),
:mod:`.messages` (one JSON-RPC message's shape), :mod:`.rpc` (the LSP
lifecycle, one answer per request, cancellation), :mod:`.access` (the token,
the hosts), :mod:`.unix_socket`, :mod:`.transport` (the first message, one
client at a time), :mod:`.ws_handshake`, :mod:`.serving` (stdio, TCP,
WebSocket, socket), :mod:`.server` (the pygls server, executors, poll tick,
closing), and one
module per feature, each with a ``setup(server, ...)`` that receives what it
needs: :mod:`.owned` (sessions this server owns, finalize), :mod:`.diffs`
(``ctask/diff``, driven by the owner), :mod:`.leases` (``ctask/leaseState``,
reconcile, auto-adoption), :mod:`.sessions` (the ``ctask.*`` commands).
:mod:`.app` composes them; :mod:`.__main__` parses the command line.
"""
