"""Issue 14: a web page in a real browser cannot make ctask-ls run anything (SPEC 4 and 9).

A hostile page (``attack.html``), served from a foreign site whose name
resolves to 127.0.0.1, is opened in Debian's headless Chromium.  It POSTs
framed JSON-RPC to the TCP port and opens WebSockets to the WebSocket port
(by address, as ``localhost``, and by its own name: DNS rebinding), each time
sending ``initialize`` and a ``ctask.new`` whose agent would create a marker
file.  Nothing runs; the servers' logs show that the browser did reach them
and was refused.
"""

from __future__ import annotations

import shutil
import urllib.parse
from pathlib import Path

import pytest

from tests.helpers import Env
from tests.security import browser, wire
from tests.security.wire import Server

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(browser.chromium() is None, reason="needs Chromium (Debian: apt-get install chromium)"),
    pytest.mark.skipif(not wire.has_websockets(), reason="needs the websockets package (pygls[ws])"),
]

PAGE = Path(__file__).with_name("attack.html")


def test_browser_page_cannot_reach_either_port(env: Env) -> None:
    tcp = Server(env, "--tcp")
    ws = Server(env, "--ws")
    marker = env.root / "marker"
    site = env.root / "site"
    site.mkdir()
    shutil.copy(PAGE, site / "index.html")
    pages = browser.PageServer(site)
    try:
        query = urllib.parse.urlencode({"tcp": tcp.port, "ws": ws.port, "marker": str(marker), "name": "pwned"})
        report = browser.run_page(env, f"http://{browser.EVIL}:{pages.port}/index.html?{query}")
    finally:
        pages.close()

    assert report["origin"] == f"http://{browser.EVIL}:{pages.port}", report
    for attempt in ("ws", "wsLocalhost", "wsRebound"):
        assert report[attempt]["opened"] is False, report
        assert report[attempt]["messages"] == [], report
    assert report["tcp"]["answered"] is False and report["tcpRebound"]["answered"] is False, report
    wire.nothing_ran(env, marker)

    # The browser reached both servers, and they said no (not Chromium refusing on its own).
    ws_log = ws.stderr()
    origin = f"'http://{browser.EVIL}:{pages.port}'"
    assert ws_log.count(f"refused: connections from Origin {origin}") == 2, ws_log
    assert f"refused: Host 'evil.example:{ws.port}'" in ws_log, ws_log
    tcp_log = tcp.stderr()
    assert tcp_log.count("unauthorized (expected a header line like 'Content-Length: 42', got 'POST / HTTP/1.1')") == 2
    assert tcp.proc.poll() is None and ws.proc.poll() is None, "a refused page must not stop a server"
