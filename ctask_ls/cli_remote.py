"""ctask on other machines, through the user's own ssh (SPEC 10): ``ctask --host HOST ...`` and
``ctask list --all-hosts``.

Each host keeps its own tasks, tmux and ctask; nothing is shared but ssh.
``--host HOST COMMAND ARGS`` runs ``ctask COMMAND ARGS`` on HOST (a name
under ``hosts:`` in ``config.yaml``, :class:`~ctask_ls.core.api.Host`)
through ``ssh`` with the user's own configuration, keys and agent:

* the command line is checked here first (a usage error never reaches
  ssh), then each argument is quoted for the remote shell after the host's
  ``command`` (default ``ctask``), which that shell reads as written;
* the remote's stdout is this process's stdout, byte for byte (``--json``
  comes back unchanged), and its exit status is this one's;
* ``attach``, ``resume``, ``last``, ``open``, ``demo`` and ``new`` without
  ``--detach`` get ``ssh -t`` when stdin and stdout are a terminal, so the
  terminal is passed through to the host's tmux; everything else runs with
  ``BatchMode=yes`` and stdin closed, so nothing prompts or reads a
  script's input;
* connections are reused with ssh's ControlMaster (``ControlPersist=60``),
  their sockets in a private directory (mode 0700): ``$XDG_RUNTIME_DIR/ctask-ssh``,
  else ``<ctask home>/ssh``, else ``/tmp/ctask-ssh-UID`` (a socket path must stay
  short); without one that is private, connections are not shared;
* ``$CTASK_SSH`` replaces the ``ssh`` command (with options of its own:
  ``ssh -F ~/other_config``), split as a shell would.

Nothing about a host is guessed.  Each call starts the remote ctask with
``--remote-protocol N`` (:data:`REMOTE_PROTOCOL`) before the command; a
ctask that speaks that protocol answers first, on stderr, with one line
(``ctask-remote: protocol 1, ctask 0.1.0``) that this side checks and
drops, and then runs the command; one that does not refuses with that line
and status 2 (on a terminal, where that line would show, the check is a
separate ``--version`` call first).  So an unreachable host (ssh's status
255), a host without ctask (the shell's 127), a ctask too old to answer or
of another protocol, or a host that does not answer in time, is one
``ctask: error: HOST ...`` line saying what to do, and status 1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import selectors
import shlex
import signal
import stat
import subprocess
import sys
import threading
import time
import typing as t
from pathlib import Path

from ctask_ls import __version__
from ctask_ls.cli_print import err, host_list_header, out, print_host_line, print_json, say
from ctask_ls.core.api import LOCAL_HOST, ConfigError

if t.TYPE_CHECKING:
    import argparse

    from ctask_ls.core.api import Config, Core, Host

REMOTE_PROTOCOL = 1
"""What a remote ctask must speak: its command line and ``--json`` shapes as this one knows them.  Raised
when they change incompatibly; a remote of another protocol is refused in one line, never half understood."""
PROTOCOL_FLAG = "--remote-protocol"
HANDSHAKE = "ctask-remote: protocol {protocol}, ctask {version}"
HANDSHAKE_RE = re.compile(r"ctask-remote: protocol (\d+), ctask (\S+)")
SSH_ENV = "CTASK_SSH"
"""Replaces ``ssh`` (a command line, split as a shell would: ``ssh -F FILE``)."""
DEFAULT_TIMEOUT = 5.0
"""Seconds ``ctask list --all-hosts`` waits for the hosts (``--timeout``)."""
CONNECT_TIMEOUT = 10
"""ssh's ConnectTimeout of ``--host`` commands: a machine that is off fails in seconds, not minutes."""
CONTROL_PERSIST = 60
"""Seconds an idle shared connection to a host stays open."""
TERMINAL_COMMANDS = frozenset({"attach", "resume", "last", "open", "new", "demo"})
"""Commands that attach a terminal (unless ``--detach``): ``ssh -t`` when this one has a terminal."""
SSH_FAILED, NOT_FOUND, NOT_EXECUTABLE = 255, 127, 126
_MAX_NOISE = 64 * 1024
"""Bytes kept of what a host writes on stderr before its handshake (a login script's chatter)."""


# -- the remote side ---------------------------------------------------------------------------


def answer_handshake(argv: list[str]) -> list[str] | int:
    """``ctask --remote-protocol N ARGS`` (the other side of :func:`run_on_host`): ARGS once the handshake
    is answered, or the exit status (2) when this ctask does not speak protocol N."""
    if argv[:1] != [PROTOCOL_FLAG]:
        return argv
    asked = argv[1] if len(argv) > 1 else ""
    terminal = sys.stderr.isatty()
    if not terminal:  # the caller reads it off a pipe; on a terminal it checked with --version first
        print(HANDSHAKE.format(protocol=REMOTE_PROTOCOL, version=__version__), file=sys.stderr, flush=True)
    if asked != str(REMOTE_PROTOCOL):
        err(
            f"error: the calling ctask speaks remote protocol {asked or '(none)'}, this one ({__version__}) "
            f"speaks {REMOTE_PROTOCOL}: install the same ctask version on both machines"
        )
        return 2
    return argv[2:]


# -- ssh ---------------------------------------------------------------------------------------


def find_host(config: Config, name: str) -> Host:
    for host in config.hosts:
        if host.name == name:
            return host
    known = ", ".join(h.name for h in config.hosts) or "none yet"
    raise ConfigError(
        f"host '{name}' is not in hosts: of config.yaml (configured: {known}); "
        f"add it, e.g. hosts: [{{name: {name}, ssh: user@machine}}]"
    )


def _private_dir(path: Path) -> bool:
    """``path`` is (made) a directory of ours that nobody else can enter (0700), and no symlink."""
    with contextlib.suppress(OSError):
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        st = os.lstat(path)
    except OSError:
        return False
    # not ours, or someone opened it up: refuse rather than trust it
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


_MAX_CONTROL_DIR = 45
"""A Unix socket path is at most 104-108 bytes: the directory, ``/``, ``%C`` (40) and ssh's temporary suffix (17)."""


def control_dir(config: Config) -> Path | None:
    """Where the shared connections' sockets live; None when no candidate is short and private."""
    candidates = []
    if runtime := os.environ.get("XDG_RUNTIME_DIR"):
        candidates.append(Path(runtime) / "ctask-ssh")
    candidates += [config.home / "ssh", Path(f"/tmp/ctask-ssh-{os.getuid()}")]
    for path in candidates:
        if len(os.fsencode(path)) <= _MAX_CONTROL_DIR and path.is_absolute() and _private_dir(path):
            return path
    return None


def ssh_command() -> list[str]:
    text = os.environ.get(SSH_ENV, "").strip()
    try:
        argv = shlex.split(text) if text else ["ssh"]
    except ValueError as exc:
        raise ConfigError(f"${SSH_ENV} is not a command line ({exc}); fix or unset it") from None
    return argv or ["ssh"]


def ssh_argv(
    config: Config, host: Host, args: t.Sequence[str], *, terminal: bool = False, connect_timeout: float | None = None
) -> list[str]:
    """The ssh command that runs ``ctask --remote-protocol N ARGS`` on ``host``."""
    options = ["-o", f"ConnectTimeout={math.ceil(connect_timeout or CONNECT_TIMEOUT)}"]
    if not terminal:
        options += ["-o", "BatchMode=yes"]
    where = control_dir(config)
    if where is not None:
        options += [
            "-o",
            "ControlMaster=auto",
            "-o",
            f"ControlPath={where}/%C",
            "-o",
            f"ControlPersist={CONTROL_PERSIST}",
        ]
    remote = " ".join([host.command, *(shlex.quote(a) for a in (PROTOCOL_FLAG, str(REMOTE_PROTOCOL), *args))])
    return [*ssh_command(), *options, "-t" if terminal else "-T", "--", host.ssh, remote]


@dataclasses.dataclass
class Answer:
    """What one ctask call on a host gave: its exit status and output, or why there was no ctask answer."""

    code: int
    stdout: bytes = b""
    stderr: bytes = b""
    problem: str | None = None
    """One line: the host is unreachable, has no ctask, an incompatible one, or did not answer in time."""


def _last_line(data: bytes) -> str:
    lines = [ln.strip() for ln in data.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def diagnose(host: Host, code: int, noise: bytes, handshake: re.Match[str] | None) -> str | None:
    """Why a call on ``host`` is not a ctask answer (one line saying what to do), or None when it is one."""
    said = _last_line(noise)
    if handshake is not None:
        protocol, version = handshake.group(1), handshake.group(2)
        if protocol == str(REMOTE_PROTOCOL):
            return None
        return (
            f"host {host.name} runs ctask {version} (remote protocol {protocol}), this machine ctask {__version__} "
            f"(remote protocol {REMOTE_PROTOCOL}): install the same ctask version on both"
        )
    if code == SSH_FAILED:
        return (
            f"host {host.name} is unreachable ({said or 'ssh failed'}); "
            f"check that `ssh {host.ssh} true` works without a prompt"
        )
    if code in (NOT_FOUND, NOT_EXECUTABLE):
        return (
            f"host {host.name} has no ctask to run (`{host.command}`: {said or f'status {code}'}); install ctask "
            f"{__version__} there, or set the path of its ctask as `command:` of host {host.name} in config.yaml"
        )
    return (
        f"host {host.name}: `{host.command}` did not answer as ctask {__version__} does "
        f"(status {code}{': ' + said if said else ''}); it is older or not ctask: install ctask {__version__} there"
    )


class _Stderr:
    """A host's stderr as it comes: held until the handshake line, then written through as it comes."""

    def __init__(self, forward: bool) -> None:
        self.forward = forward
        self.held = b""
        self.noise = b""
        self.handshake: re.Match[str] | None = None
        self.tail = b""

    def feed(self, chunk: bytes) -> None:
        if self.handshake is not None:
            self._pass(chunk)
            return
        self.held += chunk
        while self.handshake is None and b"\n" in self.held:
            line, self.held = self.held.split(b"\n", 1)
            match = HANDSHAKE_RE.fullmatch(line.decode(errors="replace").strip())
            if match is None:
                self.noise = (self.noise + line + b"\n")[-_MAX_NOISE:]
                continue
            self.handshake = match
            if match.group(1) == str(REMOTE_PROTOCOL):
                self._pass(self.noise + self.held)  # what came before, in order, and the rest
                self.noise = b""
            else:
                self.noise, self.forward = self.held, False
            self.held = b""

    def _pass(self, data: bytes) -> None:
        if self.forward and data:
            sys.stderr.buffer.write(data)
            sys.stderr.buffer.flush()
        elif data:
            self.tail = (self.tail + data)[-_MAX_NOISE:]

    def done(self) -> bytes:
        """What was not written through (the host's words before a missing or refused handshake)."""
        if self.handshake is None:
            self.noise = (self.noise + self.held)[-_MAX_NOISE:]
        return self.noise + self.tail


@dataclasses.dataclass
class Call:
    """A ``ctask`` call on a host that ssh is running: :meth:`finish` reads it to its end and gives its answer."""

    host: Host
    proc: subprocess.Popen[bytes]
    timeout: float
    deadline: float | None

    def finish(self, *, forward_stderr: bool = False) -> Answer:
        proc, host, timeout = self.proc, self.host, self.timeout
        err_stream = _Stderr(forward_stderr)
        out_chunks: list[bytes] = []
        assert proc.stderr is not None
        streams: dict[int, t.Callable[[bytes], None]] = {proc.stderr.fileno(): err_stream.feed}
        if proc.stdout is not None:
            streams[proc.stdout.fileno()] = out_chunks.append
        timed_out = _pump(streams, self.deadline)
        if timed_out:
            with contextlib.suppress(OSError):
                proc.kill()
        code = proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        noise = err_stream.done()
        if timed_out:
            return Answer(code, problem=f"host {host.name} did not answer within {timeout:g}s; is it up?")
        answer = Answer(code, b"".join(out_chunks), noise)
        answer.problem = diagnose(host, code, noise, err_stream.handshake)
        return answer


def start(
    config: Config, host: Host, args: t.Sequence[str], *, timeout: float, stdout: int | None = subprocess.PIPE
) -> Call | Answer:
    """Start ``ctask ARGS`` on ``host`` without a terminal (its :class:`Call`), or the Answer saying why not."""
    try:
        proc = subprocess.Popen(
            ssh_argv(config, host, args, connect_timeout=timeout if math.isfinite(timeout) else None),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        return Answer(1, problem=f"cannot run ssh ({exc.filename}): install the OpenSSH client, or set ${SSH_ENV}")
    return Call(host, proc, timeout, time.monotonic() + timeout if math.isfinite(timeout) else None)


def call(
    config: Config,
    host: Host,
    args: t.Sequence[str],
    *,
    timeout: float,
    stdout: int | None = subprocess.PIPE,
    forward_stderr: bool = False,
) -> Answer:
    """Run ``ctask ARGS`` on ``host`` without a terminal; the answer, or the problem within ``timeout`` seconds.

    ``stdout=None`` leaves the remote's stdout on this process's stdout (byte for byte); ``forward_stderr``
    writes its stderr through after the handshake.
    """
    started = start(config, host, args, timeout=timeout, stdout=stdout)
    return started if isinstance(started, Answer) else started.finish(forward_stderr=forward_stderr)


def _pump(streams: dict[int, t.Callable[[bytes], None]], deadline: float | None) -> bool:
    """Read every stream to its end, each chunk to its callback; True when ``deadline`` passed first."""
    with selectors.DefaultSelector() as sel:
        for fd, fn in streams.items():
            sel.register(fd, selectors.EVENT_READ, fn)
        while sel.get_map():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return True
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data(chunk)
                else:
                    sel.unregister(key.fd)
    return False


# -- ctask --host HOST ... ---------------------------------------------------------------------


def wants_terminal(args: argparse.Namespace) -> bool:
    """This command attaches a terminal, and there is one to pass through."""
    if args.command not in TERMINAL_COMMANDS or getattr(args, "detach", False):
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


def run_on_host(config: Config, name: str, args: t.Sequence[str], *, terminal: bool) -> int:
    """``ctask --host NAME ARGS``: the remote command's exit status, or 1 with one line when it could not run."""
    host = find_host(config, name)
    if not terminal:
        answer = call(config, host, args, timeout=math.inf, stdout=None, forward_stderr=True)
        if answer.problem is not None:
            err(f"error: {answer.problem}")
            return 1
        if answer.code == SSH_FAILED:  # after the handshake: the connection, not ctask (which never exits 255)
            err(f"error: the ssh connection to host {host.name} dropped; what runs there runs on")
            return 1
        return answer.code
    probe = call(config, host, ["--version"], timeout=CONNECT_TIMEOUT + 20)
    if probe.problem is not None:
        err(f"error: {probe.problem}")
        return 1
    proc = subprocess.Popen(ssh_argv(config, host, args, terminal=True))
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C is the remote's (raw mode)
    try:
        code = proc.wait()
    finally:
        signal.signal(signal.SIGINT, old)
    if code == SSH_FAILED:
        err(
            f"error: the ssh connection to host {host.name} failed or dropped; what runs there runs on "
            f"(run the command again when `ssh {host.ssh} true` works)"
        )
        return 1
    return code


def remote_args(argv: t.Sequence[str]) -> list[str]:
    """``argv`` without the ``--host HOST`` (or ``--host=HOST``) that comes before the command."""
    rest: list[str] = []
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg == "--host":
            skip = True
        elif arg.startswith("--host="):
            pass
        elif not arg.startswith("-"):  # the command: the rest is its own
            return [*rest, *argv[i:]]
        else:
            rest.append(arg)
    return rest


# -- ctask list --all-hosts ----------------------------------------------------------------------

ALL_HOSTS_EPILOG = (
    "With --all-hosts: this machine's tasks (host 'local') and those of every host under hosts: in "
    "config.yaml, asked in parallel through ssh; a host that does not answer within --timeout is named on "
    "stderr (in 'unreachable' with --json) and the others are listed. Exit status: 0 every host answered; "
    "3 a host did not answer; 1 a task's metadata is broken (and every host answered)."
)
UNANSWERED = 3


def list_all_hosts(config: Config, args: argparse.Namespace, core: t.Callable[[Config], Core]) -> int:
    """``ctask list --all-hosts``: every host's tasks with their host, the hosts that did not answer named.

    The hosts are asked first, and this machine's tasks listed (by ``core(config)``) while they answer.
    """
    hosts = config.hosts
    if not hosts:
        say("no hosts under hosts: in config.yaml; listing this machine only")
    started = [start(config, h, ["list", "--json"], timeout=args.timeout) for h in hosts]
    answers = [s if isinstance(s, Answer) else Answer(1) for s in started]

    def finish(i: int, running: Call) -> None:
        answers[i] = running.finish()

    # their pipes are read while this machine's tasks are listed (a host's answer may not fit in a pipe); plain
    # threads, not concurrent.futures, which imports logging and more (~5 ms of every --all-hosts)
    threads = [
        threading.Thread(target=finish, args=(i, s), daemon=True) for i, s in enumerate(started) if isinstance(s, Call)
    ]
    for thread in threads:
        thread.start()
    try:
        local = core(config).list_tasks()
    finally:
        for thread in threads:
            thread.join()
    rows: list[tuple[str, dict[str, t.Any]]] = [(LOCAL_HOST, st.to_json()) for st in local]
    unreachable: list[dict[str, str]] = []
    for host, answer in zip(hosts, answers, strict=True):
        tasks = _tasks(answer) if answer.problem is None else None
        if answer.problem is None and tasks is None:
            answer.problem = (
                f"host {host.name}: `ctask list` failed there (status {answer.code}"
                f"{': ' + _last_line(answer.stderr) if _last_line(answer.stderr) else ''}); run "
                f"`ctask --host {host.name} list` to see why"
            )
        if answer.problem is not None or tasks is None:
            unreachable.append({"host": host.name, "error": answer.problem or ""})
            continue
        rows += [(host.name, task) for task in tasks]
    broken = [(h, task) for h, task in rows if task.get("error")]
    if args.json:
        print_json({"tasks": [{"host": h, **task} for h, task in rows], "unreachable": unreachable})
    elif not rows:
        out("no tasks yet on any host; create one with `ctask [--host HOST] new NAME`")
    else:
        width = max(len("HOST"), *(len(h) for h, _ in rows))
        out(host_list_header(width))
        now = time.time()
        for h, task in rows:
            print_host_line(h, width, task, now)
    for h, task in broken:
        err(f"error: {h}: {task.get('error')}")
    for item in unreachable:
        err(f"error: {item['error']}")
    if unreachable:
        return UNANSWERED
    return 1 if broken else 0


def _tasks(answer: Answer) -> list[dict[str, t.Any]] | None:
    """The tasks of a remote ``ctask list --json`` (status 0, or 1 when one of them is broken)."""
    if answer.code not in (0, 1):
        return None
    try:
        data = json.loads(answer.stdout)
    except ValueError:
        return None
    if not isinstance(data, list) or not all(isinstance(task, dict) for task in data):
        return None
    return data
