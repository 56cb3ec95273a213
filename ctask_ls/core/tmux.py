"""The one module that talks to tmux.

ctask runs agents on a dedicated tmux server (socket name ``ctask`` unless
configured), never on the user's own.  Sessions are created with
``remain-on-exit`` so that the agent's exit status and last screen lines can be
read after it ends; finalize then kills what is left.

Commands go through libtmux's ``Server.cmd`` (it knows the socket flags and
the tmux binary), imported on first use.  Two calls run tmux directly:
``list-panes`` (:meth:`Tmux.panes`), the poll that ``ctask list`` and the
server's loop run all the time, where libtmux's 40 ms import and per-call
objects would dominate; and ``new-session``, so that the tmux *client* gets a
minimal environment and no standard input.  When that client starts the tmux
server, the server's global environment is that minimal one, and every
variable the agent must see reaches it through a 0600 file that its launcher
reads and removes (SPEC 3.3): sessions never inherit the environment of
whichever process happened to start the server, and no value is ever on a
command line (``-e NAME=VALUE`` would be, in ``ps``, and in the tmux server's
own command line for its whole life when that client started it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

from ctask_ls.core.errors import TmuxError, TmuxNotFound
from ctask_ls.core.storage import write_private

if t.TYPE_CHECKING:
    import libtmux

SESSION_ID_OPTION = "@ctask_session_id"
_PANE_FORMAT = "\t".join(
    [
        "#{session_name}",
        "#{pane_dead}",
        "#{pane_dead_status}",
        "#{pane_dead_signal}",
        "#{pane_pid}",
        "#{pane_dead_time}",
        "#{" + SESSION_ID_OPTION + "}",
        "#{window_activity}",
    ]
)
# Variables tmux sets itself for the pane; a caller's values would be wrong inside it.
_TMUX_OWNED_VARS = frozenset({"TMUX", "TMUX_PANE", "TERM", "TERM_PROGRAM", "TERM_PROGRAM_VERSION", "COLUMNS", "LINES"})
# A tmux wait-for channel name ctask makes (it is spliced into a hook's command string).
_CHANNEL_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
# What the tmux client itself needs when it starts a server.
_CLIENT_VARS = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TMUX_TMPDIR", "TMPDIR", "SHELL")
# The pane's first process, run by its path: it needs nothing of the pane's environment to be found.
_EXECAGENT = str(Path(__file__).with_name("execagent.py"))


def tmux_arg(arg: str) -> str:
    """Escape one argv element for tmux's command-line parser.

    tmux splits commands at an argument ending in ``;``; an argument ending
    in ``\\;`` stands for a literal ``;``.  So a trailing ``;`` gets a
    backslash, and nothing else needs changing.
    """
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


def tmux_word(text: str) -> str:
    """``text`` as one double-quoted word of tmux's command language (no ``$`` or ``~`` expansion)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def zombie_exit_code(pid: int) -> int | None:
    """The waitpid-style exit code of a zombie process, from /proc (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    # fields[0] is the state (field 3 of proc(5)); exit_code is field 52.
    if len(fields) < 50 or fields[0] != b"Z":
        return None
    try:
        return int(fields[49])
    except ValueError:
        return None


# C0 and C1 controls (tab aside) and DEL; tmux shows a NUL cell as a lone "^@".
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CARETS_RE = re.compile(r"(?:\^@)+")


def clean_line(line: str) -> str:
    """A screen line as ctask records it: no control characters, no lone ``^@`` junk, no trailing blanks."""
    line = _CONTROL_RE.sub("", line).rstrip()
    return "" if _CARETS_RE.fullmatch(line.strip()) else line


@dataclasses.dataclass(frozen=True)
class PaneState:
    """What tmux says of a session's (single) pane."""

    session: str
    dead: bool
    dead_status: int | None
    """Exit status of a dead pane's process, when it exited (not killed) and tmux knows it."""
    dead_signal: int | None
    """The signal that killed a dead pane's process."""
    pid: int | None
    session_id: str | None
    """The ctask session id the session was tagged with at launch."""
    dead_time: float | None = None
    """When a dead pane's process ended (Unix time, tmux's ``pane_dead_time``)."""
    output_at: float | None = None
    """When the pane last wrote output (Unix time, whole seconds: tmux's ``window_activity``)."""

    @property
    def exit_unknown(self) -> bool:
        return self.dead_status is None and self.dead_signal is None


class Tmux:
    """A handle on one tmux server, by socket name or socket path."""

    def __init__(self, socket: str, *, tmux_bin: str | None = None) -> None:
        self.socket = socket
        self._bin = tmux_bin

    @property
    def socket_args(self) -> list[str]:
        return ["-S", self.socket] if "/" in self.socket else ["-L", self.socket]

    @property
    def socket_path(self) -> str:
        """The server's socket file (tmux's own rule for ``-L``: ``$TMUX_TMPDIR/tmux-UID/NAME``)."""
        if "/" in self.socket:
            return self.socket
        return os.path.join(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", self.socket)

    def server_running(self) -> bool:
        """Whether a tmux server answers on the socket (a connect, no tmux process started)."""
        import socket

        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            try:
                sock.connect(self.socket_path)
            except OSError:
                return False
        return True

    def server_gone(self, settle: float = 0.5) -> bool:
        """Whether the tmux server went away (a session that vanished went with it): no server answers,
        now or within ``settle`` seconds.  ``kill-server`` and a crash end the sessions first and the server
        a moment later, while it still accepts connections."""
        deadline = time.monotonic() + settle
        while self.server_running():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def scope_prefix(self) -> list[str]:
        """What starts the tmux server outside the caller's login session (SPEC 3.12), so logging out never
        kills the agents: ``systemd-run --user --scope`` where a user manager answers (logind kills a login's
        whole cgroup at logout when ``KillUserProcesses`` is set; tmux's own ``daemon()`` leaves the cgroup
        as it is).  Elsewhere nothing: the client runs in a new session of its own (:meth:`new_session`), the
        server it forks calls ``setsid`` too, so no hang-up of the login reaches either."""
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        run = shutil.which("systemd-run")
        if not runtime or run is None or not os.path.exists(os.path.join(runtime, "systemd", "private")):
            return []
        return [run, "--user", "--scope", "--quiet", "--collect", "--description=ctask tmux server"]

    def binary(self) -> str:
        found = self._bin or shutil.which("tmux")
        if not found:
            raise TmuxNotFound("tmux not found on PATH; install it (for example `apt-get install tmux`)")
        return found

    def available(self) -> bool:
        try:
            self.binary()
        except TmuxNotFound:
            return False
        return True

    def _server(self) -> libtmux.Server:
        import libtmux

        if "/" in self.socket:
            return libtmux.Server(socket_path=self.socket, tmux_bin=self.binary())
        return libtmux.Server(socket_name=self.socket, tmux_bin=self.binary())

    def _cmd(self, *args: str) -> tuple[int, list[str], list[str]]:
        from libtmux import exc as libtmux_exc

        try:
            result = self._server().cmd(*args)
        except libtmux_exc.TmuxCommandNotFound as exc:
            raise TmuxNotFound("tmux not found on PATH; install it (for example `apt-get install tmux`)") from exc
        return result.returncode, result.stdout, result.stderr

    def new_session(
        self,
        name: str,
        argv: t.Sequence[str],
        *,
        cwd: str,
        env: t.Mapping[str, str],
        env_file: Path,
        session_id: str,
        exit_channel: str | None = None,
        reaper: t.Sequence[str] | None = None,
    ) -> None:
        """Start ``argv`` as the pane's own process of a new detached session, with exactly ``env``.

        No value of ``env`` goes on a command line (SPEC 3.3): they go to
        ``env_file`` (0600, :func:`~ctask_ls.core.storage.write_private`),
        and the pane runs :mod:`ctask_ls.core.execagent`, which reads and
        removes the file, keeps exactly those variables (and tmux's own
        TERM/TMUX/TMUX_PANE) and execs the agent.  Every argument is escaped
        for tmux's command parser, so nothing the user typed can split the
        command (see :func:`tmux_arg`).  The start directory is the tmux
        client's own working directory, never ``-c``: tmux expands formats
        in ``-c``, and a directory named ``#(cmd)`` would run ``cmd``.
        """
        passed = {k: v for k, v in env.items() if k not in _TMUX_OWNED_VARS and k and "=" not in k}
        write_private(env_file, json.dumps(passed).encode("ascii"))
        launcher = [sys.executable, "-I", _EXECAGENT, str(env_file), *argv]
        cmd = [self.binary(), *self.socket_args, "set-option", "-gw", "remain-on-exit", "on", ";"]
        cmd += ["new-session", "-d", "-s", name, "-x", "200", "-y", "50"]
        cmd += [tmux_arg(a) for a in launcher]
        cmd += [";", "set-option", "-t", name, SESSION_ID_OPTION, tmux_arg(session_id)]
        if exit_channel is not None:
            # The session's plain name: in this chain, tmux (3.3) resolves no "=name" target for
            # set-hook; the name was just created, and an exact name wins over a prefix.
            cmd += [";", *self._exit_hook_args(name, exit_channel, reaper)]
        client_env = {k: os.environ[k] for k in _CLIENT_VARS if k in os.environ}

        def run(prefix: list[str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*prefix, *cmd],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env={**client_env, **_scope_env()} if prefix else client_env,
                cwd=cwd,
                check=False,
                start_new_session=True,  # the server it may start is no child of the caller's session
            )

        try:
            for attempt in range(3):
                scope = [] if self.server_running() else self.scope_prefix()  # this client starts the server
                proc = run(scope)
                if proc.returncode != 0 and scope and not self.server_running():  # no scope to be had
                    proc = run([])
                # A server whose last session just ended exits while a client is connecting: the next client
                # starts a new one.
                if proc.returncode == 0 or "server exited unexpectedly" not in proc.stderr or attempt == 2:
                    break
                time.sleep(0.1)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                env_file.unlink()
            raise TmuxError(f"tmux could not start session {name} in {cwd}: {exc.strerror}", session=name) from exc
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                env_file.unlink()
            raise
        if proc.returncode != 0:
            with contextlib.suppress(FileNotFoundError):
                env_file.unlink()
            why = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
            raise TmuxError(f"tmux could not start session {name}: {why}", session=name)

    def panes(self) -> dict[str, PaneState]:
        """Every session's pane state, with one tmux call (empty when no server runs)."""
        code, out = _spawn_read([self.binary(), *self.socket_args, "list-panes", "-a", "-F", _PANE_FORMAT])
        if code != 0:
            return {}
        states: dict[str, PaneState] = {}
        for line in out.decode("utf-8", "backslashreplace").splitlines():
            parts = line.split("\t")
            if len(parts) != 8:
                continue
            name, dead, status, signal, pid, died, sid, active = parts
            if name in states:  # a session split by hand: the first pane is the agent's
                continue
            states[name] = PaneState(
                session=name,
                dead=dead == "1",
                dead_status=int(status) if status.lstrip("-").isdigit() else None,
                dead_signal=int(signal) if signal.isdigit() and signal != "0" else None,
                pid=int(pid) if pid.isdigit() else None,
                session_id=sid or None,
                dead_time=float(died) if dead == "1" and died.isdigit() and died != "0" else None,
                output_at=float(active) if active.isdigit() and active != "0" else None,
            )
        return states

    # -- learning of an agent's exit as it happens ---------------------------------------------

    @staticmethod
    def _exit_hook_args(target: str, channel: str, reaper: t.Sequence[str] | None = None) -> list[str]:
        if not _CHANNEL_RE.fullmatch(channel):
            raise ValueError(f"bad tmux wait-for channel {channel!r}")
        command = f"wait-for -S {channel}"
        if reaper:
            command += " ; run-shell -b " + tmux_word(shlex.join(reaper).replace("#", "##"))
        return ["set-hook", "-t", target, "pane-died", command]

    def signal_exit_to(self, name: str, channel: str, reaper: t.Sequence[str] | None = None) -> bool:
        """Make tmux signal ``channel`` (``wait-for -S``) when the session's agent dies, and run ``reaper``.

        The owner of a session blocks in :meth:`wait_for` on its channel, so it
        learns of the exit the moment tmux does.  A new owner (adoption)
        points the hook at its own channel.  ``reaper`` (an argv, run in the
        background by tmux itself) records the session when no owner is
        left to do it (:mod:`ctask_ls.core.reaper`).  The target is
        ``=NAME:``: tmux 3.3 refuses a bare ``=NAME`` for ``set-hook``.
        """
        code, _out, _err = self._cmd(*self._exit_hook_args(f"={name}:", channel, reaper))
        return code == 0

    def pipe_output(self, name: str, fifo: str) -> bool:
        """Have tmux copy what the session's agent writes to its pane into the FIFO ``fifo`` (``pipe-pane -O``).

        tmux runs ``cat`` for the pane and writes the pane's output to it as
        it arrives: the reader of ``fifo`` learns of output the moment it
        happens, with no look at tmux.  A pipe the pane had is replaced (its
        reader sees end-of-file, as it does when the pane goes away).  tmux
        expands formats in the command, so a ``#`` in the path is doubled.
        """
        command = "exec cat > " + shlex.quote(fifo).replace("#", "##")
        code, _out, _err = self._cmd("pipe-pane", "-O", "-t", f"={name}:", command)
        return code == 0

    def wake(self, channel: str) -> None:
        """Signal ``channel``: a :meth:`wait_for` on it returns (its owner is closing)."""
        if _CHANNEL_RE.fullmatch(channel) and self.server_running():
            self._cmd("wait-for", "-S", channel)

    def wait_for(self, channel: str, timeout: float) -> bool:
        """Block until ``channel`` is signalled (True) or ``timeout`` passes (False).

        tmux remembers a signal that came while nobody waited, so an exit
        between two waits is not missed.  The timeout keeps the caller's own
        checks (a killed session fires no ``pane-died``) going.  The waiting
        tmux client runs under coreutils' ``timeout``, so it goes away on
        time even when the caller is killed and cannot end it.
        """
        argv = [self.binary(), *self.socket_args, "wait-for", channel]
        # Bounded by coreutils' ``timeout``, the wait is a plain blocking waitpid: Python's own
        # timeout would poll the child every few milliseconds (Popen.wait's loop), which is what an
        # idle server spent most of its time on.
        python_timeout: float | None = timeout + 1.0
        if (bounded := shutil.which("timeout")) is not None:
            argv = [bounded, "-s", "KILL", f"{max(timeout, 0.01):.2f}", *argv]
            python_timeout = None
        try:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=python_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        if proc.returncode == 0:
            return True
        if proc.returncode not in (124, 137, -9):  # not a timeout: no server (it went away); do not spin
            time.sleep(min(timeout, 0.2))
        return False

    def pane(self, name: str) -> PaneState | None:
        return self.panes().get(name)

    def settled_pane(self, name: str, pane: PaneState | None = None, *, timeout: float = 2.0) -> PaneState | None:
        """The pane's state, waiting for the exit status of a dead pane.

        tmux marks a pane dead when its pty closes, a moment before it reaps
        the process and knows the exit status; under load that moment can be
        long.  tmux (3.3 at least) now and then misses the SIGCHLD altogether
        and never reaps the process: then it knows neither the status nor
        the time, shows no "Pane is dead" and runs no ``pane-died`` hook.
        The agent's exit watcher (:func:`ctask_ls.core.execagent.watch_exit`)
        sends tmux another SIGCHLD; should a zombie agent still be there,
        ctask sends one too (:meth:`nudge`), once, and tmux reaps it as usual.
        Should that not help, the zombie's ``/proc`` entry still has the
        status.  After ``timeout`` the status stays unknown.
        """
        pane = pane if pane is not None else self.pane(name)
        deadline = time.monotonic() + timeout
        nudged: float | None = None
        while pane is not None and pane.dead and pane.exit_unknown and time.monotonic() < deadline:
            if pane.pid is not None and (code := zombie_exit_code(pane.pid)) is not None:
                if nudged is None:
                    nudged = time.monotonic() if self.nudge() else 0.0
                elif time.monotonic() - nudged > 0.3:
                    # The zombie still holds the status, in waitpid's encoding.
                    return dataclasses.replace(
                        pane,
                        dead_status=(code >> 8) & 0xFF if code & 0x7F == 0 else None,
                        dead_signal=code & 0x7F or None,
                    )
            time.sleep(0.02)
            pane = self.pane(name)
        return pane

    def nudge(self) -> bool:
        """Send the tmux server a SIGCHLD, so that it reaps an agent whose exit it missed."""
        code, out, _err = self._cmd("list-sessions", "-F", "#{pid}")
        pid = out[0].strip() if code == 0 and out else ""
        if not pid.isdigit():
            return False
        try:
            os.kill(int(pid), signal.SIGCHLD)
        except OSError:
            return False
        return True

    def server_error(self) -> str | None:
        """None when the tmux server answers, else what tmux says is wrong."""
        code, _out, err = self._cmd("list-sessions")
        if code == 0:
            return None
        return " ".join(" ".join(err).split()) or f"exit status {code}"

    def capture_tail(self, name: str, lines: int = 20) -> list[str]:
        """The last non-empty screen lines of the session's pane."""
        code, out, _err = self._cmd("capture-pane", "-p", "-J", "-t", f"={name}:", "-S", "-200")
        if code != 0:
            return []
        text = [clean_line(ln) for ln in out if not ln.startswith("Pane is dead")]
        while text and not text[-1]:
            text.pop()
        return text[-lines:]

    def kill_session(self, name: str) -> bool:
        code, _out, _err = self._cmd("kill-session", "-t", f"={name}")
        return code == 0

    def kill_server(self) -> None:
        self._cmd("kill-server")

    def attach_argv(self, name: str) -> list[str]:
        return [self.binary(), *self.socket_args, "attach-session", "-t", f"={name}"]

    def attach(self, name: str) -> tuple[int, str]:
        """Attach the caller's terminal; returns tmux's exit status and its error text."""
        env = dict(os.environ)
        env.pop("TMUX", None)  # attaching from inside tmux is fine: it is another server
        proc = subprocess.run(self.attach_argv(name), env=env, stderr=subprocess.PIPE, text=True, check=False)
        return proc.returncode, " ".join(proc.stderr.split())


def _spawn_read(argv: list[str]) -> tuple[int, bytes]:
    """Run ``argv`` (stdin and stderr on /dev/null) and return its exit status and output.

    ``posix_spawn`` and one pipe rather than :func:`subprocess.run`: this is
    the server's once-a-second look at tmux, and it costs the calling
    process a third as much (no fork of a large process, no selector loop).
    """
    read_end, write_end = os.pipe()  # both close-on-exec; the child gets write_end as its stdout only
    actions = [
        (os.POSIX_SPAWN_DUP2, write_end, 1),
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    try:
        try:
            pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        finally:
            os.close(write_end)
        chunks = []
        try:
            while chunk := os.read(read_end, 65536):
                chunks.append(chunk)
        finally:
            _, status = os.waitpid(pid, 0)  # never a zombie, whatever happened while reading
    finally:
        os.close(read_end)
    return os.waitstatus_to_exitcode(status), b"".join(chunks)


def _scope_env() -> dict[str, str]:
    """What ``systemd-run --user`` needs to find the user manager (the client's environment is otherwise bare)."""
    return {k: os.environ[k] for k in ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "PATH") if k in os.environ}
