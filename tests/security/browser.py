"""A real headless Chromium opening a web page, driven over the DevTools protocol.

The page is served over HTTP on loopback by :class:`PageServer`; Chromium maps
the name ``evil.example`` to 127.0.0.1 (``--host-resolver-rules``), so the
page's origin is a foreign site whose name resolves to this machine: what a
DNS-rebinding attack achieves.  :func:`run_page` opens the page and returns
what its script reported (``window.ctaskDone``, a promise).  Every wait is
bounded; Chromium is killed by ``Env.cleanup``.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import re
import shutil
import threading
import typing as t
from pathlib import Path

from tests.helpers import Env

EVIL = "evil.example"
"""The attacker's site; Chromium resolves it to 127.0.0.1."""
WAIT = 60.0
"""Seconds to wait for Chromium or the page's report (a guard, never a measure)."""


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


class PageServer:
    """Serves one directory over HTTP on 127.0.0.1 (a thread; stop it with :meth:`close`)."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="page-server", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: t.Any) -> None:
        return


class CdpError(Exception):
    pass


class Cdp:
    """The DevTools protocol over Chromium's browser WebSocket."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(url, max_size=None, open_timeout=WAIT))
        self._next = 0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stack.close()

    def call(self, method: str, params: dict[str, t.Any] | None = None, session: str | None = None) -> t.Any:
        self._next += 1
        message: dict[str, t.Any] = {"id": self._next, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            answer = json.loads(self.ws.recv(timeout=WAIT))
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise CdpError(f"{method}: {answer['error']}")
                return answer["result"]


REPORT = """
new Promise((resolve) => {
  let tries = 0;
  const look = () => {
    if (window.ctaskDone) { window.ctaskDone.then(resolve, (e) => resolve({ error: String(e) })); }
    else if (++tries > 400) { resolve(null); }
    else { setTimeout(look, 25); }
  };
  look();
})
"""
"""Waits (bounded) for the page's script to finish and returns its report."""


def run_page(env: Env, url: str) -> dict[str, t.Any]:
    """Open ``url`` in a fresh headless Chromium; the value ``window.ctaskDone`` resolves to."""
    binary = chromium()
    assert binary is not None
    proc = env.background(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            f"--user-data-dir={env.root / 'chromium-profile'}",
            f"--host-resolver-rules=MAP {EVIL} 127.0.0.1",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
        ]
    )
    text = env.stderr_so_far(proc, until="DevTools listening on", seconds=WAIT)
    for _ in range(100):  # the rest of that line
        match = re.search(r"DevTools listening on (ws://\S+)\n", text)
        if match or proc.poll() is not None:
            break
        text = env.stderr_so_far(proc, seconds=0.1)
    assert match, f"chromium did not start its DevTools endpoint: {text[-2000:]}"
    cdp = Cdp(match.group(1))
    try:
        target = cdp.call("Target.createTarget", {"url": url})["targetId"]
        session = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for _ in range(20):  # the first evaluations may land in about:blank before the page commits
            try:
                result = cdp.call(
                    "Runtime.evaluate",
                    {"expression": REPORT, "awaitPromise": True, "returnByValue": True},
                    session,
                )
            except CdpError:
                continue
            value = result.get("result", {}).get("value")
            if isinstance(value, dict):
                return value
        raise AssertionError(f"the page {url} never reported")
    finally:
        cdp.close()
        proc.kill()
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)
