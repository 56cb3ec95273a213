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
import time
import typing as t

from tests.agents.loopback import LoopbackAPI, send_events, send_json, sse

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
    return sse(event, {"type": event, **data})


class FakeOpenAI(LoopbackAPI):
    """A threaded HTTP server on 127.0.0.1 answering Codex's ``/v1/responses`` calls."""

    name = "fake-openai"

    def __init__(self, answer: str = ANSWER) -> None:
        self.answer = answer
        self.requests: list[Request] = []
        super().__init__()

    @property
    def url(self) -> str:
        """The provider's ``base_url``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def responses(self) -> list[Request]:
        """The ``/v1/responses`` requests answered so far."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/v1/responses") and r.answered_at is not None]

    def get(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests.append(Request(handler.path, {}, time.time()))
        send_json(handler, 404, {"error": {"message": "not scripted"}})

    def serve(self, handler: http.server.BaseHTTPRequestHandler, body: dict[str, t.Any]) -> None:
        request = Request(handler.path, body)
        with self._lock:
            self.requests.append(request)
        n = self.next_id()
        if not handler.path.startswith("/v1/responses"):
            send_json(handler, 404, {"error": {"message": "not scripted"}})
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
        send_events(handler, events)
        request.answered_at = time.time()
