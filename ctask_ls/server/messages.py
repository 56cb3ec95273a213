"""The shape of one JSON-RPC message: the checks ``ctask-ls`` makes before the LSP lifecycle sees it.

A message must be a JSON object (no batches) nested at most
:data:`MAX_NESTING` levels deep; a request or notification has
``jsonrpc: "2.0"``, a non-empty string ``method``, an ``id`` (requests) that
is an integer or a string, and ``params`` that is an object or an array
(:func:`malformed` says what is wrong, in one line a client can show).  The
TCP token travels in ``initialize``'s ``initializationOptions`` and is taken
out (:func:`drop_token`) before anything reads the settings or logs them.
"""

from __future__ import annotations

import json
import typing as t

MAX_NESTING = 100
"""The deepest nesting of arrays and objects accepted in a message."""

TOKEN_OPTION = "token"
"""The key of ``initializationOptions`` that carries the token over TCP (:mod:`.transport`)."""


def one_line(text: str) -> str:
    """``text`` on one line: runs of whitespace (newlines too) become one space."""
    return " ".join(text.split())


def valid_id(value: object) -> bool:
    """LSP request ids are integers or strings (never null, a boolean, a float)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def nested_deeper_than(value: object, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (iterative: no recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def drop_token(data: dict[str, t.Any]) -> object:
    """Take the TCP token (``initializationOptions.token``) out of an ``initialize``: never a setting, never logged."""
    params = data.get("params")
    options = params.get("initializationOptions") if isinstance(params, dict) else None
    return options.pop(TOKEN_OPTION, None) if isinstance(options, dict) else None


def brief(value: object) -> str:
    """A JSON value as a one-line message shows it: scalars as JSON (cut at 40 characters), else its type."""
    text = json.dumps(value) if isinstance(value, str | int | float | bool) or value is None else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def malformed(data: dict[str, t.Any]) -> str | None:
    """Why ``data`` is not a JSON-RPC 2.0 request or notification (None: it is one)."""
    if data.get("jsonrpc") != "2.0":
        return f"'jsonrpc' must be \"2.0\", not {brief(data.get('jsonrpc'))}"
    if "method" not in data:
        return "a request needs a 'method' (a string)"
    method = data["method"]
    if not isinstance(method, str) or not method:
        return f"'method' must be a non-empty string, not {brief(method)}"
    if "id" in data and not valid_id(data["id"]):
        return f"'id' must be an integer or a string, not {brief(data['id'])}"
    params = data.get("params")
    if params is not None and not isinstance(params, dict | list):
        return f"'params' of {brief(method)} must be an object or an array, not {brief(params)}"
    return None
