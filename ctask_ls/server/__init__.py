"""``ctask-ls``: the language-server front door over the session core.

Modules: :mod:`.protocol` (command and notification names, payloads, error
codes), :mod:`.settings` (editor settings over the shared config),
:mod:`.rpc` (reading the transport, the LSP lifecycle, one answer per
request, the size limit, cancellation), :mod:`.server` (the pygls server,
executors, poll tick, transports, closing), and one
module per feature, each with a ``setup(server, ...)`` that receives what it
needs: :mod:`.owned` (sessions this server owns, finalize), :mod:`.diffs`
(``ctask/diff``, driven by the owner), :mod:`.leases` (``ctask/leaseState``,
reconcile, auto-adoption), :mod:`.sessions` (the ``ctask.*`` commands).
:mod:`.app` composes them; :mod:`.__main__` parses the command line.
"""
