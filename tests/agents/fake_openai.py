"""A scripted OpenAI Responses API on loopback, for the real Codex CLI offline.

Codex, given a model provider on its command line (:func:`codex_args`),
sends ``POST /v1/responses`` with ``"stream": true``; each request is
answered with one assistant message (:attr:`FakeOpenAI.answer`) as
Server-Sent Events: ``response.created``, ``response.output_item.added``,
``response.output_text.delta``, ``response.output_item.done``,
``response.completed`` (with ``usage``).  Every request is recorded.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import sys
import threading
import time
import typing as t

ANSWER = "Hello from the scripted model."
KEY_VARIABLE = "FAKE_KEY"


def codex_args(url: str, model: str = "fake-model") -> list[str]:
    """Codex options (``-c key=value``) that send its model calls to ``url`` (``.../v1``)."""
    provider = f'{{name="fake", base_url="{url}", wire_api="responses", env_key="{KEY_VARIABLE}"}}'
    return ["-c", "model_provider=fake", "-c", f"model_providers.fake={provider}", "-c", f"model={model}"]


@dataclasses.dataclass
class Request:
    """One request Codex sent: its path, body, and when its answer went out (``time.time``)."""

    path: str
    body: dict[str, t.Any]
    answered_at: float | None = None


def _sse(event: str, data: dict[str, t.Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps({'type': event, **data})}\n\n".encode()


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: t.Any, client_address: t.Any) -> None:
        """Quiet about connections the agent dropped (it is stopped mid-request); loud about the rest."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeOpenAI:
    """A threaded HTTP server on 127.0.0.1 answering Codex's ``/v1/responses`` calls."""

    def __init__(self, answer: str = ANSWER) -> None:
        self.answer = answer
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._ids = 0
        fake = self

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
                fake._serve(self, body if isinstance(body, dict) else {})

            def do_GET(self) -> None:
                with fake._lock:
                    fake.requests.append(Request(self.path, {}, time.time()))
                payload = b'{"error": {"message": "not scripted"}}'
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)

    @property
    def url(self) -> str:
        """The provider's ``base_url``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> t.Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def responses(self) -> list[Request]:
        """The ``/v1/responses`` requests answered so far."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/v1/responses") and r.answered_at is not None]

    def _serve(self, handler: http.server.BaseHTTPRequestHandler, body: dict[str, t.Any]) -> None:
        request = Request(handler.path, body)
        with self._lock:
            self.requests.append(request)
            self._ids += 1
            n = self._ids
        if not handler.path.startswith("/v1/responses"):
            payload = b'{"error": {"message": "not scripted"}}'
            handler.send_response(404)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            request.answered_at = time.time()
            return
        response_id, item_id = f"resp_{n:06d}", f"msg_{n:06d}"
        model = str(body.get("model") or "fake-model")
        item = {
            "type": "message",
            "id": item_id,
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": self.answer, "annotations": []}],
        }
        usage = {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 15,
        }
        base = {"id": response_id, "object": "response", "created_at": int(time.time()), "model": model}
        events = [
            _sse("response.created", {"response": {**base, "status": "in_progress", "output": []}}),
            _sse(
                "response.output_item.added",
                {"output_index": 0, "item": {**item, "status": "in_progress", "content": []}},
            ),
            _sse(
                "response.output_text.delta",
                {"item_id": item_id, "output_index": 0, "content_index": 0, "delta": self.answer},
            ),
            _sse("response.output_item.done", {"output_index": 0, "item": item}),
            _sse("response.completed", {"response": {**base, "status": "completed", "output": [item], "usage": usage}}),
        ]
        payload = b"".join(events)
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
        handler.wfile.flush()
        request.answered_at = time.time()
