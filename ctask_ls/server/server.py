"""The ``ctask-ls`` language server: a pygls 2 server over the session core.

Threads and the event loop
    The JSON-RPC loop never runs a core call: every command runs on the
    *requests* executor, and everything the server does on its own (the poll
    tick, finalize, live diffs, adoption, reconciliation) on the *background*
    executor, so a busy background never delays a request.  Heartbeats run on
    the core's own heartbeat thread.  Whatever a worker thread sends to the
    client (notifications, log messages, progress) hops onto the loop first
    (:meth:`CtaskServer.call_soon`), so writes to the transport never interleave.

The poll tick
    One tick every ``pollInterval`` seconds (sooner after a command changed
    something): one ``tmux list-panes`` call, then every tick hook with that
    snapshot.  The owned-session hook (``owned``) finalizes ended sessions and
    schedules live diffs; the lease hook (``leases``) sends ``ctask/leaseState``
    on change, reconciles ended unowned sessions and adopts orphans.

Lifecycle
    :mod:`.framing` reads the transport (a size limit) and :mod:`.rpc`
    applies the LSP lifecycle before pygls dispatches anything: -32002 before
    ``initialize``, -32600 after ``shutdown``, one answer per request.

    ``shutdown`` (and ``exit``, SIGTERM, SIGINT, SIGHUP, or the client
    vanishing) waits briefly for finalizes in flight, then *releases* every
    owned session: heartbeats stop and leases are removed while the tmux
    sessions keep running, so the next server or ``ctask attach`` adopts them
    at once.  A crash instead leaves leases behind; they are stale at once on
    this host (dead owner pid) and the next server adopts them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import math
import os
import signal
import sys
import threading
import time
import typing as t

from lsprotocol import types
from pygls.exceptions import FeatureRequestError, JsonRpcException

from ctask_ls import __version__
from ctask_ls.core.api import AdoptionDeclined, Core, CtaskError

from . import protocol, rpc, settings
from .progress import CaptureProgress
from .serving import Serving

if t.TYPE_CHECKING:
    from ctask_ls.core.api import Config, LeaseInfo, PaneState, Workspace

logger = logging.getLogger("ctask_ls.server")

T = t.TypeVar("T")
TickHook = t.Callable[["dict[str, PaneState]"], None]
ChangedHook = t.Callable[["set[str]", "dict[str, PaneState]"], None]
QUICK_INTERVAL = 0.5
"""Seconds between two quick looks at the lease files (between full polls)."""
MIN_WAIT = 0.05
"""The shortest wait for a deadline: one that is due now is met by the next tick, not by many."""
CALM_TICK = 10.0
"""The longest between two ticks when nothing needs one sooner (:attr:`CtaskServer.wait_hooks`): what no
event reports still shows within this (tasks that another process made without their files watched yet)."""

ADOPT_ANSWER_TIMEOUT = 600.0
"""Seconds to wait for the user's answer to "adopt this fresh_remote session?"."""
INIT_OPTIONS = "initializationOptions"
FINALIZE_GRACE = 10.0
"""Seconds shutdown waits for finalizes already running before it releases the rest."""


class CommandError(JsonRpcException):
    """A JSON-RPC error with a one-line message and ``data.kind``."""

    def __init__(self, message: str, code: int, data: dict[str, t.Any]) -> None:
        super().__init__(message=message, code=code, data=data)


def one_line(text: str) -> str:
    return " ".join(text.split())


def rpc_error(exc: BaseException) -> JsonRpcException:
    """The JSON-RPC error a client sees for ``exc``; never raises."""
    if isinstance(exc, JsonRpcException):
        return exc
    if isinstance(exc, CtaskError):
        code = protocol.code_for(exc.kind)
        data = {k: v for k, v in exc.to_data().items() if _jsonable(v)}
        return CommandError(one_line(exc.message), code, data)
    message = f"internal error in ctask-ls ({type(exc).__name__}: {one_line(str(exc))}); see the server's stderr log"
    return CommandError(message, protocol.INTERNAL_ERROR, {"kind": "InternalError"})


def _cancelled(why: str) -> CommandError:
    return CommandError(f"{why}; nothing was done", protocol.REQUEST_CANCELLED, {"kind": "RequestCancelled"})


def _jsonable(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)


class CtaskServer(Serving):
    """The language server: the core, an event loop, two executors and the poll tick.

    How clients reach it is its base's job (:class:`.serving.Serving`).
    """

    def __init__(self, env: t.Mapping[str, str] | None = None) -> None:
        super().__init__(
            "ctask-ls",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.None_,
            protocol_cls=rpc.CtaskProtocol,
        )
        self.base_config, self.startup_problems = settings.base_config(env)
        self.core = Core(self.base_config, owner="server", persistent_only=True, say=self.say)
        self.capture_progress = CaptureProgress(self)
        self.core.progress = self.capture_progress.on_progress
        self.requests = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="ctask-request")
        self.background = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="ctask-bg")
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tick_hooks: list[TickHook] = []
        self.close_hooks: list[t.Callable[[str], None]] = []
        """Called with the reason when the server closes (the owner hands its sessions on)."""
        self.quick_hooks: list[TickHook] = []
        self.quick_wanted: t.Callable[[], bool] = lambda: bool(self.quick_hooks)
        """Whether quick looks are needed between ticks (not when every watched file is watched natively)."""
        self.changed_hooks: list[ChangedHook] = []
        """Called on the loop with the control directories whose watched files changed (:meth:`look_soon`)."""
        self.wait_hooks: list[t.Callable[[], float]] = []
        """After each tick: how many seconds each part can wait for the next one (0: the next poll, as when
        it must ask tmux about a pane; infinity: only an event or a deadline of another part).  The tick
        runs every ``poll_interval`` unless all of them can wait longer (:meth:`tick_wait`)."""
        self._tick_by = math.inf
        """A tick is wanted by this time (the loop's clock) at the latest (:meth:`tick_within`)."""
        self._dirty: set[str] = set()
        self._dirty_lock = threading.Lock()
        self._full = False
        """A full tick is wanted now (:meth:`poke`), not only a look at the changed tasks."""
        self.last_panes: tuple[float, dict[str, PaneState]] = (0.0, {})
        self.stopping = False
        self._closed = False
        self._close_lock = threading.Lock()
        self._close_done = threading.Event()
        self._poller: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._tick_errors: dict[TickHook, str] = {}
        self._init_settings: object = None
        self.cleanups: list[t.Callable[[], None]] = []
        """Run once the server is closed: remove the token file and the socket the transport made."""

    # -- running core code off the loop ------------------------------------------------------

    async def in_request(self, fn: t.Callable[..., T], *args: t.Any, **kwargs: t.Any) -> T:
        """Run a blocking core call for a request, off the event loop.

        A job that has started runs to its end and the request is answered with
        its outcome, whatever the client cancels; one that has not started when
        the client cancels it (``$/cancelRequest``) or the server shuts down
        never runs, and the answer says so (-32800, ``RequestCancelled``).
        """
        run = self.protocol.command_run()
        if run is not None and run.cancelled:
            raise _cancelled("the client cancelled the request before it started")
        try:
            job = self.requests.submit(functools.partial(fn, *args, **kwargs))
        except RuntimeError:  # the executor is shut down
            raise _cancelled("ctask-ls is shutting down") from None
        if run is not None:
            run.job = job
        try:
            return await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            if not job.cancelled():
                raise
            why = (
                "the client cancelled the request" if run is not None and run.cancelled else "ctask-ls is shutting down"
            )
            raise _cancelled(f"{why} before it started") from None

    async def in_background(self, fn: t.Callable[..., T], *args: t.Any, **kwargs: t.Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.background, functools.partial(fn, *args, **kwargs))

    def submit(self, fn: t.Callable[..., T], *args: t.Any) -> concurrent.futures.Future[T] | None:
        """Start background work from any thread; None once the server is closing."""
        try:
            return self.background.submit(fn, *args)
        except RuntimeError:  # executor shut down
            return None

    # -- talking to the client from any thread -----------------------------------------------

    def call_soon(self, fn: t.Callable[..., t.Any], *args: t.Any) -> None:
        """Run ``fn`` on the event loop (FIFO with every other hop), from any thread."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # loop closing
            loop.call_soon_threadsafe(self._guarded, fn, *args)

    @staticmethod
    def _guarded(fn: t.Callable[..., t.Any], *args: t.Any) -> None:
        try:
            fn(*args)
        except Exception:
            logger.exception("sending to the client failed")

    def notify(self, method: str, params: dict[str, t.Any]) -> None:
        """Send a ``ctask/*`` notification, from any thread."""
        self.call_soon(self.protocol.notify, method, params)

    def say(self, message: str) -> None:
        """The core's diagnostics: ``window/logMessage`` (warnings as Warning)."""
        level = types.MessageType.Warning if message.lower().startswith("warning") else types.MessageType.Info
        logger.info("%s", message)
        self.call_soon(self.window_log_message, types.LogMessageParams(type=level, message=f"ctask: {message}"))

    def show(self, message: str, level: types.MessageType = types.MessageType.Warning) -> None:
        """A user-facing failure: ``window/showMessage`` (and the log)."""
        logger.warning("%s", message)
        self.call_soon(self.window_show_message, types.ShowMessageParams(type=level, message=f"ctask: {message}"))
        self.call_soon(self.window_log_message, types.LogMessageParams(type=level, message=f"ctask: {message}"))

    # -- settings ------------------------------------------------------------------------------

    def apply_settings(self, raw: object, source: str) -> None:
        """Apply the editor's settings; report what was ignored (never fatal).

        Layers: the config file < ``initializationOptions`` < the latest
        ``workspace/didChangeConfiguration`` (which replaces the one before it).
        """
        if source == INIT_OPTIONS:
            self._init_settings = raw
            under = self.base_config
        else:
            under, _reported = self._overlay(self.base_config, self._init_settings)
        config, problems = self._overlay(under, raw)
        self.core.config = config
        if problems:
            self.show(f"ignored invalid settings from {source}: {'; '.join(problems)} (defaults used for them)")
        self.poke()

    @staticmethod
    def _overlay(base: Config, raw: object) -> tuple[Config, list[str]]:
        try:
            return settings.overlay(base, raw)
        except Exception as exc:  # noqa: BLE001 - settings are never fatal
            return base, [f"settings could not be read ({type(exc).__name__}: {exc})"]

    # -- $/progress around manifest captures -----------------------------------------------------

    def quiet_progress(self) -> t.ContextManager[None]:
        """Captures in this block report no progress (background live diffs)."""
        return self.capture_progress.quiet()

    # -- asking the user -------------------------------------------------------------------------

    def confirm_adoption(self, ws: Workspace, info: LeaseInfo) -> bool:
        """Core's confirm hook (a worker thread): ask with ``window/showMessageRequest``."""
        lease = info.lease
        who = f"{lease.host} pid {lease.pid}" if lease else "another host"
        return self.ask(
            f"ctask: task {ws.name} is held by {who} with a fresh heartbeat. "
            "Adopt it here? That host's owner will stop recording it.",
            protocol.ADOPT,
        )

    def ask_fresh(self, ws: Workspace, why: str) -> bool:
        """Core's question when resuming a conversation failed (a worker thread): start a new one?"""
        return self.ask(f"ctask: task {ws.name}: {why}. Start a new conversation?", protocol.FRESH)

    def ask(self, message: str, yes: str) -> bool:
        """Ask the user with ``window/showMessageRequest`` (from a worker thread): ``yes`` or Cancel.
        No answer (a timeout, a client that cannot ask, a client gone) is Cancel."""
        loop = self.loop
        if loop is None:
            return False
        future = asyncio.run_coroutine_threadsafe(self._ask(message, yes), loop)
        try:
            return future.result(timeout=ADOPT_ANSWER_TIMEOUT)
        except Exception:  # noqa: BLE001 - no answer (timeout, client gone) is "Cancel"
            future.cancel()
            return False

    async def _ask(self, message: str, yes: str) -> bool:
        params = types.ShowMessageRequestParams(
            type=types.MessageType.Warning,
            message=message,
            actions=[types.MessageActionItem(title=yes), types.MessageActionItem(title=protocol.CANCEL)],
        )
        try:
            answer = await self.window_show_message_request_async(params)
        except Exception as exc:  # noqa: BLE001 - a client that cannot ask declines
            logger.info("showMessageRequest failed: %s", exc)
            return False
        return answer is not None and getattr(answer, "title", None) == yes

    @staticmethod
    def declined(ws: Workspace, exc: AdoptionDeclined) -> AdoptionDeclined:
        """The core's refusal, worded for an editor."""
        text = exc.message.split("; adoption declined")[0]
        return AdoptionDeclined(
            f"{text}; adoption declined, nothing changed (run the command again and choose {protocol.ADOPT} "
            "to take it over here)",
            name=ws.name,
        )

    # -- the poll tick ---------------------------------------------------------------------------

    def poke(self) -> None:
        """Run the next tick now (from any thread)."""
        if self._wake is not None:
            self.call_soon(self._poke_now)

    def tick_within(self, seconds: float) -> None:
        """Run a tick within ``seconds`` (from any thread): something a tick does will be due then."""
        if self._wake is not None:
            self.call_soon(self._tick_within_now, seconds)

    def _tick_within_now(self, seconds: float) -> None:
        loop = self.loop
        if loop is None or self._wake is None:
            return
        at = loop.time() + max(0.0, seconds)
        if at < self._tick_by:
            self._tick_by = at
            self._wake.set()  # the poller waits for the new deadline

    def tick_wait(self) -> float:
        """Seconds until the next tick: ``poll_interval``, or until the soonest deadline when every part has one.

        Each part says how long it can wait (:attr:`wait_hooks`): 0 when it
        must ask tmux at every poll (a pane whose output no event reports), a
        deadline of its own (a lease turning stale, an agent quiet for
        ``idle_after``), or infinity when events cover it (watched files,
        piped output, tmux's exit hook).  A deadline is met when it comes,
        and with no deadline the tick still comes every :data:`CALM_TICK`.
        """
        interval = self.core.config.poll_interval
        wait = max(interval, CALM_TICK)
        for hook in self.wait_hooks:
            try:
                until = hook()
            except Exception:
                logger.exception("wait hook %s failed", hook)
                until = 0.0
            wait = min(wait, interval if until <= 0 else until)
        return max(MIN_WAIT, wait)

    def _poke_now(self) -> None:
        self._full = True
        if self._wake is not None:
            self._wake.set()

    def look_soon(self, key: str) -> None:
        """Task ``key`` (its control directory) changed on disk: look at it now (from any thread).

        The look runs on the loop between ticks, never during one, so it
        cannot race a tick's view of the same task; a change seen while a
        tick runs is looked at right after it.
        """
        with self._dirty_lock:
            first = not self._dirty
            self._dirty.add(key)
        wake = self._wake
        if first and wake is not None:
            self.call_soon(wake.set)

    def _look_changed(self) -> None:
        with self._dirty_lock:
            keys, self._dirty = self._dirty, set()
        if not keys or self.stopping:
            return
        panes = self.last_panes[1]
        for hook in self.changed_hooks:
            try:
                hook(keys, panes)
            except Exception:
                logger.exception("look at changed tasks failed")

    def start_polling(self) -> None:
        if self._poller is None and not self.stopping:
            self._wake = asyncio.Event()
            self._poller = asyncio.ensure_future(self._poll_forever())

    async def _poll_forever(self) -> None:
        assert self._wake is not None
        while not self.stopping:
            self._wake.clear()
            self._full = False
            self._tick_by = math.inf
            with self._dirty_lock:
                self._dirty.clear()  # the tick looks at every task
            try:
                await self.in_background(self.tick)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("poll tick failed")
            self._look_changed()  # what changed while the tick ran
            # Between two ticks, quick looks (lease files only) every QUICK_INTERVAL, and a look
            # at once at a task whose watched files changed (look_soon).  The next tick comes after
            # poll_interval, or later when nothing needs it sooner (tick_wait), or when asked for
            # (poke, tick_within).
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that races the wake-up, and the poller would then outlive the loop's teardown.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.tick_wait()
            while not self.stopping and (remaining := min(deadline, self._tick_by) - loop.time()) > 0:
                quick = self.quick_wanted()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(QUICK_INTERVAL, remaining) if quick else remaining):
                        await self._wake.wait()
                if self._wake.is_set():
                    if self._full:
                        break
                    self._wake.clear()
                    self._look_changed()
                    continue
                if not quick or remaining <= QUICK_INTERVAL:
                    break
                try:  # a stat per task: cheaper on the loop than a hop to a thread
                    self.quick_tick()
                except Exception:
                    logger.exception("quick tick failed")

    def tick(self) -> None:
        """One look at tmux for every hook (a background thread)."""
        if self.stopping:
            return
        core = self.core
        panes = core.tmux.panes() if core.tmux.available() else {}
        self.last_panes = (time.monotonic(), panes)
        for hook in self.tick_hooks:
            if self.stopping:
                return
            try:
                hook(panes)
            except Exception as exc:
                text = f"{type(exc).__name__}: {exc}"
                if self._tick_errors.get(hook) != text:  # once per distinct failure, not every tick
                    self._tick_errors[hook] = text
                    logger.exception("tick hook %s failed", hook)
                    self.say(f"warning: watching tasks failed ({text}); retrying every poll")
            else:
                self._tick_errors.pop(hook, None)

    def quick_tick(self) -> None:
        """A cheap look between ticks (on the loop, never during a tick), with the last tick's tmux snapshot."""
        if self.stopping:
            return
        for hook in self.quick_hooks:
            hook(self.last_panes[1])

    def recent_panes(self) -> dict[str, PaneState] | None:
        """The last tick's tmux snapshot when it is younger than a poll interval, else None."""
        at, panes = self.last_panes
        return panes if time.monotonic() - at < self.core.config.poll_interval else None

    async def stop_polling(self) -> None:
        self.stopping = True
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(BaseException):
                await poller

    def report_server_error(self, error: Exception, source: type[Exception]) -> None:
        """pygls' errors that no request answers: stderr and ``window/logMessage``, never a popup."""
        if source is FeatureRequestError:  # already answered to the request
            return
        logger.error("%s: %s", source.__name__, error)
        text = f"ctask: internal error ({source.__name__}: {one_line(str(error))}); see the server's stderr log"
        self.call_soon(self.window_log_message, types.LogMessageParams(type=types.MessageType.Error, message=text))

    # -- closing ---------------------------------------------------------------------------------

    def close(self, why: str) -> None:
        """Release every owned session, then run :attr:`cleanups` (blocking; any thread; idempotent)."""
        with self._close_lock:
            first = not self._closed
            self._closed = True
            self.stopping = True
        if not first:
            self._close_done.wait(FINALIZE_GRACE + 30)
            return
        try:
            for hook in self.close_hooks:
                try:
                    hook(why)
                except Exception:
                    logger.exception("closing hook %s failed", hook)
            self.requests.shutdown(wait=False, cancel_futures=True)
            self.background.shutdown(wait=False, cancel_futures=True)
        finally:
            for cleanup in self.cleanups:
                with contextlib.suppress(Exception):
                    cleanup()
            self._close_done.set()

    def install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: int) -> None:
        logger.warning("ctask-ls: %s, releasing owned sessions", signal.Signals(sig).name)
        self.close(f"server got {signal.Signals(sig).name}")
        hard_exit(0)


def hard_exit(code: int) -> t.NoReturn:
    """Leave now: worker threads may be blocked on a client that is gone."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
