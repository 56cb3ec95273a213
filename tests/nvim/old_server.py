"""A stand-in for an older ctask-ls: it answers ``initialize`` without ``experimental.ctask`` (what servers before
the protocol version said), ``shutdown`` and ``exit``, over stdio with LSP framing."""

from __future__ import annotations

import json
import sys


def read() -> dict[str, object] | None:
    length = 0
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(sys.stdin.buffer.read(length)) if length else {}


def send(message: dict[str, object]) -> None:
    body = json.dumps(message).encode()
    sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    sys.stdout.buffer.flush()


def main() -> int:
    while (message := read()) is not None:
        method, ident = message.get("method"), message.get("id")
        if method == "initialize":
            capabilities = {"executeCommandProvider": {"commands": ["ctask.list"]}}
            info = {"name": "ctask-ls", "version": "0.0.9"}
            send({"jsonrpc": "2.0", "id": ident, "result": {"capabilities": capabilities, "serverInfo": info}})
        elif method == "shutdown":
            send({"jsonrpc": "2.0", "id": ident, "result": None})
        elif method == "exit":
            return 0
        elif ident is not None:
            send({"jsonrpc": "2.0", "id": ident, "result": []})
    return 0


if __name__ == "__main__":
    sys.exit(main())
