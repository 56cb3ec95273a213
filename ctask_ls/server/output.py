"""Output of the owned sessions' agents, learnt the moment tmux sees it (SPEC 3.10: tmux's own event stream).

For every session this server owns, tmux copies what the agent writes to
its pane into a FIFO (``pipe-pane -O``, :meth:`ctask_ls.core.tmux.Tmux.pipe_output`)
in a private directory of this server (0700), and the event loop reads it.
Output is then a wake-up instead of something found by asking tmux once a
second: a server whose agents are all quiet asks tmux nothing, and its poll
tick only runs when a deadline comes (a lease turning stale, ``idle_after``
after the last output).

The bytes are read and dropped: what an agent shows is never interpreted.
The first output after a quiet spell, and then at most one per
``poll_interval`` per session, makes the lease watcher look at the task
(which reads the pane's activity time from tmux, as the tick does).  End of
file means the pane went away (the session was killed, its tmux server
died) or another owner's pipe replaced ours (it adopted the session): the
server then runs a tick at once, and a session it still owns without a pipe
is looked at every ``poll_interval`` again, as before.

The agent's process is watched too (``pidfd_open``): its end runs a tick at
once even when tmux misses it (tmux 3.3 now and then reaps an agent without
running its ``pane-died`` hook), which the pipe would not show (a dead pane
keeps its pipe).  Where there is no pidfd, the session is polled.

A ``cat`` per owned session does the copying (tmux runs it; it sleeps in a
read while the agent is quiet).  When this server lets a session go, the
FIFO's read end is closed, and that ``cat`` ends at the agent's next output
(a write to a FIFO nobody reads) or when the next owner's pipe replaces it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import shutil
import tempfile
import threading
import time
import typing as t

if t.TYPE_CHECKING:
    from .server import CtaskServer

logger = logging.getLogger("ctask_ls.server.output")

READ_SIZE = 65536


@dataclasses.dataclass(eq=False)
class _Pipe:
    key: str
    path: str
    fd: int
    pidfd: int | None = None
    """The agent's process (``pidfd_open``): readable when it exits, whether or not tmux noticed."""
    exited: bool = False
    """The agent's process ended: the session is polled until it is recorded (tmux may show it a moment later)."""
    live: bool = False
    """tmux writes to it (``pipe-pane`` succeeded) and it is not closed (no end of file seen, not let go)."""
    closed: bool = False
    quiet_until: float = -math.inf
    """Output before this (monotonic) time is not told again: one look per ``poll_interval`` is enough."""


class OutputWatch:
    """Calls ``on_output(key)`` when an owned session's agent writes to its pane, ``on_closed(key)`` when its
    pipe ends (both on the event loop); ``key`` is the task's control directory."""

    def __init__(
        self,
        server: CtaskServer,
        on_output: t.Callable[[str], None],
        on_closed: t.Callable[[str], None],
    ) -> None:
        self.server = server
        self._on_output = on_output
        self._on_closed = on_closed
        self._pipes: dict[str, _Pipe] = {}
        self._lock = threading.Lock()
        self._dir: str | None = None
        self._made = 0
        self._closing = False

    def covered(self, key: str) -> bool:
        """Output of task ``key``'s pane reaches this server as it happens, and its agent's exit (no need to poll
        tmux for either)."""
        with self._lock:
            pipe = self._pipes.get(key)
            return pipe is not None and pipe.live and pipe.pidfd is not None and not pipe.exited

    def watch(self, key: str, session: str, pid: int | None) -> bool:
        """Have tmux copy ``session``'s pane output to a new FIFO read on the loop, and watch its agent's process
        ``pid`` end (any thread but the loop's).

        The process is watched on its own (a pidfd), not only through tmux's
        ``pane-died`` hook: tmux (3.3) now and then misses an agent's exit
        and runs no hook, and a dead pane keeps its pipe open.
        """
        loop = self.server.loop
        if loop is None or not hasattr(os, "mkfifo"):
            return False
        with self._lock:
            if self._closing:
                return False
            try:
                if self._dir is None:
                    self._dir = tempfile.mkdtemp(prefix="ctask-ls-output-")  # 0700
                self._made += 1
                path = os.path.join(self._dir, f"{self._made}.fifo")
                os.mkfifo(path, 0o600)
                # Opened before any writer: no end of file is reported until a writer came and went.
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as exc:
                logger.warning("cannot watch the output of %s (%s); looking at tmux every poll instead", session, exc)
                return False
            pipe = _Pipe(key, path, fd)
            if pid is not None and hasattr(os, "pidfd_open"):
                try:
                    pipe.pidfd = os.pidfd_open(pid)
                except OSError:  # gone already (a tick finds it dead), or no pidfd here: polled
                    pipe.pidfd = None
            before = self._pipes.get(key)
            self._pipes[key] = pipe
        if before is not None:
            self._close_soon(before)
        self.server.call_soon(self._arm, pipe)
        try:
            piped = self.server.core.tmux.pipe_output(session, path)
        except Exception:  # tmux failed: polling covers the session as before
            logger.warning("tmux cannot pipe the output of %s; looking every poll instead", session, exc_info=True)
            piped = False
        if not piped:
            self.unwatch(key, pipe)
            return False
        with self._lock:
            pipe.live = not pipe.closed
        return True

    def unwatch(self, key: str, pipe: _Pipe | None = None) -> None:
        """Stop reading task ``key``'s output (only ``pipe`` when given); any thread."""
        with self._lock:
            current = self._pipes.get(key)
            if current is not None and (pipe is None or current is pipe):
                del self._pipes[key]
            else:
                current = pipe  # another pipe is there now (or none): only this one goes
        if current is not None:
            self._close_soon(current)

    def close(self) -> None:
        """The server is closing: every pipe's read end closed, the private directory removed."""
        with self._lock:
            self._closing = True
            pipes, self._pipes = list(self._pipes.values()), {}
            where, self._dir = self._dir, None
        for pipe in pipes:
            self._close_soon(pipe)
        if where is not None:
            shutil.rmtree(where, ignore_errors=True)

    # -- on the loop -------------------------------------------------------------------------------

    def _arm(self, pipe: _Pipe) -> None:
        loop = self.server.loop
        if pipe.closed or loop is None:
            return
        loop.add_reader(pipe.fd, self._readable, pipe)
        if pipe.pidfd is not None:
            loop.add_reader(pipe.pidfd, self._exited, pipe)

    def _exited(self, pipe: _Pipe) -> None:
        """The agent's process ended: a tick at once records it (the pipe goes with the session)."""
        loop = self.server.loop
        if pipe.pidfd is not None and loop is not None:
            with contextlib.suppress(Exception):
                loop.remove_reader(pipe.pidfd)
        with self._lock:
            pipe.exited = True
        if not pipe.closed:
            self._on_closed(pipe.key)

    def _readable(self, pipe: _Pipe) -> None:
        try:
            data = os.read(pipe.fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # tmux closed its pipe: the pane went away, or another pipe replaced ours
            with self._lock:
                mine = self._pipes.get(pipe.key) is pipe
                if mine:
                    del self._pipes[pipe.key]
            self._close(pipe)
            if mine:
                self._on_closed(pipe.key)
            return
        now = time.monotonic()
        if now >= pipe.quiet_until:
            pipe.quiet_until = now + self.server.core.config.poll_interval
            self._on_output(pipe.key)

    def _close_soon(self, pipe: _Pipe) -> None:
        with self._lock:
            pipe.live = False
        if self.server.loop is None or self.server.loop.is_closed():
            self._close(pipe)
        else:
            self.server.call_soon(self._close, pipe)

    def _close(self, pipe: _Pipe) -> None:
        with self._lock:
            if pipe.closed:
                return
            pipe.closed = True
            pipe.live = False
        loop = self.server.loop
        for fd in (pipe.fd, pipe.pidfd):
            if fd is None:
                continue
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(Exception):  # never armed, or the loop is going
                    loop.remove_reader(fd)
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(pipe.path)
