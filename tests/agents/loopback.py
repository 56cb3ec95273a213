"""What the scripted model APIs share: a threaded HTTP server on 127.0.0.1, run for the length of a ``with``.

A subclass answers each POST in :meth:`LoopbackAPI.serve` (the body parsed
as JSON, ``{}`` when it is not) and each GET or HEAD in :meth:`LoopbackAPI.get`
(a 404 by default); :func:`send_json`, :func:`send_events` and :func:`sse`
write the answers.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
import typing as t


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: t.Any, client_address: t.Any) -> None:
        """Quiet about connections the agent dropped (it is stopped mid-request); loud about the rest."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def send_json(handler: http.server.BaseHTTPRequestHandler, status: int, data: object) -> None:
    payload = json.dumps(data).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def send_events(handler: http.server.BaseHTTPRequestHandler, events: list[bytes]) -> None:
    """Answer with a stream of Server-Sent Events, all at once."""
    payload = b"".join(events)
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Cache-Control", "no-cache")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
    handler.wfile.flush()


def sse(event: str, data: dict[str, t.Any]) -> bytes:
    """One Server-Sent Event."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class LoopbackAPI:
    """A scripted API on a free loopback port (``with api: ...`` serves it)."""

    name = "fake-api"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = 0
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: t.Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                api.serve(self, body if isinstance(body, dict) else {})

            def do_GET(self) -> None:
                api.get(self)

            do_HEAD = do_GET

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> t.Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def serve(self, handler: http.server.BaseHTTPRequestHandler, body: dict[str, t.Any]) -> None:
        raise NotImplementedError

    def get(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        send_json(handler, 404, {"error": {"message": "not scripted"}})
