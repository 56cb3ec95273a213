"""A scripted Anthropic Messages API on loopback, for the real Claude Code offline.

Claude Code (``ANTHROPIC_BASE_URL=http://127.0.0.1:PORT``) sends ``POST
/v1/messages?beta=true`` with a JSON body.  Per prompt it sends a *main*
request (it carries ``tools``) and *side* requests without tools (a title
for the conversation).  The script, :meth:`FakeAnthropic.reply`, is one
turn with one tool call:

- a main request whose last user message holds no ``tool_result``: a
  ``tool_use`` of ``Bash`` running :attr:`FakeAnthropic.command`
  (``stop_reason: tool_use``), which makes Claude Code ask for permission;
- a main request carrying the ``tool_result``: the answer text
  (``stop_reason: end_turn``);
- a side request: a short text.

``"stream": true`` is answered with Server-Sent Events (``message_start``,
per block ``content_block_start``/``_delta``/``_stop``, ``message_delta``,
``message_stop``), anything else with one message as JSON.  Every request
is recorded (:attr:`FakeAnthropic.requests`) with the time its answer was
sent, so a test can time what Claude Code did next; the tool call's answer
waits for :attr:`FakeAnthropic.gate`, so a test sees the turn working first.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
import time
import typing as t

from tests.agents.loopback import LoopbackAPI, send_events, send_json, sse

ANSWER = "Done: proof.txt says hi."
TITLE = "Write proof file"


@dataclasses.dataclass
class Request:
    """One request Claude Code sent: its path, body, and when its answer went out (``time.time``)."""

    path: str
    body: dict[str, t.Any]
    kind: str = ""
    """``tool_use``, ``answer``, ``side``, or ``other`` (not a messages request)."""
    answered_at: float | None = None


def _last_user_content(body: dict[str, t.Any]) -> list[t.Any]:
    """The content blocks of the last ``user`` message (the last message may be ``system``)."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return [{"type": "text", "text": content}]
            return content if isinstance(content, list) else []
    return []


class FakeAnthropic(LoopbackAPI):
    """A threaded HTTP server on 127.0.0.1 answering Claude Code's model calls from a script."""

    name = "fake-anthropic"

    def __init__(self, command: str = "echo hi > proof.txt", answer: str = ANSWER) -> None:
        self.command = command
        self.answer = answer
        self.requests: list[Request] = []
        self.gate = threading.Event()
        """Set it to let the ``tool_use`` answer go out (it is set unless a test clears it)."""
        self.gate.set()
        super().__init__()

    # -- the test's side ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``ANTHROPIC_BASE_URL`` for Claude Code."""
        return f"http://127.0.0.1:{self.port}"

    def of_kind(self, kind: str, answered: bool = True) -> list[Request]:
        """The requests of ``kind`` so far (``answered``: only those whose answer went out)."""
        with self._lock:
            return [r for r in self.requests if r.kind == kind and (r.answered_at is not None or not answered)]

    def session_ids(self) -> set[str]:
        """The Claude Code session ids its requests carried (``metadata.user_id``)."""
        found: set[str] = set()
        with self._lock:
            for request in self.requests:
                user = (request.body.get("metadata") or {}).get("user_id")
                if isinstance(user, str):
                    found.update(_session_ids(user))
        return found

    # -- the script ----------------------------------------------------------------------------

    def reply(self, body: dict[str, t.Any]) -> tuple[str, list[dict[str, t.Any]], str]:
        """(kind, content blocks, stop reason) answering one ``/v1/messages`` request."""
        if not body.get("tools"):
            return "side", [{"type": "text", "text": TITLE}], "end_turn"
        if any(isinstance(b, dict) and b.get("type") == "tool_result" for b in _last_user_content(body)):
            return "answer", [{"type": "text", "text": self.answer}], "end_turn"
        tool = {
            "type": "tool_use",
            "id": f"toolu_{self.next_id():08d}",
            "name": "Bash",
            "input": {"command": self.command, "description": "Write the proof file"},
        }
        return "tool_use", [tool], "tool_use"

    # -- serving ---------------------------------------------------------------------------------

    def get(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        self._record(handler.path, {}, "other")
        send_json(handler, 404, {"type": "error", "error": {"type": "not_found_error", "message": "not here"}})

    def _record(self, path: str, body: dict[str, t.Any], kind: str) -> Request:
        request = Request(path, body, kind)
        with self._lock:
            self.requests.append(request)
        return request

    def serve(self, handler: http.server.BaseHTTPRequestHandler, body: dict[str, t.Any]) -> None:
        path = handler.path.split("?", 1)[0]
        if path != "/v1/messages":
            request = self._record(handler.path, body, "other")
            data: dict[str, t.Any] = {"type": "error", "error": {"type": "not_found_error", "message": "not scripted"}}
            if path.endswith("/count_tokens"):
                data = {"input_tokens": 100}
            send_json(handler, 200 if "input_tokens" in data else 404, data)
            request.answered_at = time.time()
            return
        kind, content, stop = self.reply(body)
        request = self._record(handler.path, body, kind)
        if kind == "tool_use":
            self.gate.wait(120)
        message_id = f"msg_{self.next_id():08d}"
        model = str(body.get("model") or "claude-fake")
        usage = {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if not body.get("stream"):
            message = {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": usage,
            }
            send_json(handler, 200, message)
            request.answered_at = time.time()
            return
        start: dict[str, t.Any] = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1},
        }
        events = [sse("message_start", {"type": "message_start", "message": start})]
        for index, block in enumerate(content):
            if block["type"] == "text":
                opened: dict[str, t.Any] = {"type": "text", "text": ""}
                delta: dict[str, t.Any] = {"type": "text_delta", "text": block["text"]}
            else:
                opened = {**block, "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            events += [
                sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": opened}),
                sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
                sse("content_block_stop", {"type": "content_block_stop", "index": index}),
            ]
        events += [
            sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": 5},
                },
            ),
            sse("message_stop", {"type": "message_stop"}),
        ]
        send_events(handler, events)
        request.answered_at = time.time()


def _session_ids(user_id: str) -> set[str]:
    """Session ids in a ``metadata.user_id``: ``..._session_UUID``, or JSON with ``session_id``."""
    found: set[str] = set()
    try:
        data = json.loads(user_id)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("session_id"), str):
        found.add(data["session_id"])
    if "_session_" in user_id:
        found.add(user_id.rsplit("_session_", 1)[1])
    return found
