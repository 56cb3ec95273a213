"""``$/progress`` around manifest captures: a large capture shows its file count in the editor.

The core calls :meth:`CaptureProgress.on_progress` from worker threads
(``begin``, ``report``, ``end``); a capture that turns out large (the core
reports at all) becomes a work-done progress, if the client supports it.
Background captures (live diffs) run in :meth:`CaptureProgress.quiet` and
show nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import typing as t
import uuid

from lsprotocol import types

if t.TYPE_CHECKING:
    from ctask_ls.core.api import Workspace

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class _Capture:
    """One manifest capture, shown as ``$/progress`` once it turns out large."""

    task: str
    token: str | None = None
    queue: asyncio.Queue[tuple[str, int]] | None = None


class _Server(t.Protocol):
    """What of the server the progress needs (the server's layer is above this one)."""

    @property
    def client_capabilities(self) -> types.ClientCapabilities: ...

    @property
    def work_done_progress(self) -> t.Any: ...

    def call_soon(self, fn: t.Callable[..., t.Any], *args: t.Any) -> None: ...


class CaptureProgress:
    """The core's progress hook, turned into ``window/workDoneProgress`` for the server's client."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        self._tls = threading.local()
        self._captures: dict[int, _Capture] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    @contextlib.contextmanager
    def quiet(self) -> t.Iterator[None]:
        """Captures in this block (this thread) report no progress."""
        self._tls.quiet = True
        try:
            yield
        finally:
            self._tls.quiet = False

    def _supported(self) -> bool:
        with contextlib.suppress(Exception):
            window = self.server.client_capabilities.window
            return bool(window is not None and window.work_done_progress)
        return False

    def on_progress(self, ws: Workspace, phase: str, files: int) -> None:
        """Core.progress hook (worker threads): large captures become ``$/progress``."""
        if getattr(self._tls, "quiet", False):
            return
        key = threading.get_ident()
        if phase == "begin":
            self._captures[key] = _Capture(ws.name)
            return
        capture = self._captures.get(key)
        if capture is None:
            return
        if phase == "end":
            del self._captures[key]
            if capture.token is not None:
                self.server.call_soon(self._event, capture, "end", files)
            return
        if capture.token is None:
            if not self._supported():
                return
            capture.token = f"ctask-capture-{uuid.uuid4().hex[:12]}"
            self.server.call_soon(self._start, capture)
        self.server.call_soon(self._event, capture, "report", files)

    def _start(self, capture: _Capture) -> None:
        capture.queue = asyncio.Queue()
        assert capture.token is not None
        task = asyncio.ensure_future(self._run(capture.token, capture.task, capture.queue))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _event(capture: _Capture, kind: str, files: int) -> None:
        if capture.queue is not None:
            capture.queue.put_nowait((kind, files))

    async def _run(self, token: str, task: str, queue: asyncio.Queue[tuple[str, int]]) -> None:
        progress = self.server.work_done_progress
        try:
            await progress.create_async(token)
        except Exception as exc:  # noqa: BLE001 - the client refused: no progress, no harm
            logger.info("work done progress refused: %s", exc)
            return
        title = f"ctask: capturing the files of task {task}"
        progress.begin(token, types.WorkDoneProgressBegin(title=title, message="scanning", cancellable=False))
        while True:
            kind, files = await queue.get()
            if kind == "end":
                progress.end(token, types.WorkDoneProgressEnd(message=f"task {task}: done"))
                return
            progress.report(token, types.WorkDoneProgressReport(message=f"{files} files"))
