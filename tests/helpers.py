"""Shared test helpers: isolated environments, the CLI as a real process, waiting."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import weakref
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

FAST_CONFIG: dict[str, t.Any] = {
    "agent": {"command": "sh", "args": [], "env": {}},
    "heartbeat_interval": 0.3,
    "stale_after": 3,
    "poll_interval": 0.1,
    "lock_timeout": 5,
    "launch_grace": 0.3,
}


def stop_outside_the_lock(env: Env, pid: int, name: str = "t1") -> None:
    """SIGSTOP ``pid`` at a moment it does not hold task ``name``'s write lock.

    A process stopped during its few milliseconds under the lock (a heartbeat)
    holds it until it is continued, and every other command then gives up
    after ``lock_timeout`` (adopters attach passively, see README,
    Guarantees): not what a test of a frozen owner is about.
    """
    import fcntl

    fd = os.open(env.task_dir(name) / "write.lock", os.O_RDWR)
    try:
        for _ in range(100):
            os.kill(pid, signal.SIGSTOP)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.kill(pid, signal.SIGCONT)
                time.sleep(0.02)
                continue
            fcntl.flock(fd, fcntl.LOCK_UN)
            return
        raise AssertionError(f"pid {pid} always held the write lock of {name}")
    finally:
        os.close(fd)


def retry_until(fn: t.Callable[[], t.Any], seconds: float = 10.0, interval: float = 0.05) -> t.Any:
    """Call ``fn`` until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds}s: {fn}")
        time.sleep(interval)


def open_fds(pid: int | None = None) -> dict[int, str]:
    """The file descriptors process PID (default: this one) has open, and what each is (``ls -l /proc/PID/fd``)."""
    fds: dict[int, str] = {}
    where = f"/proc/{'self' if pid is None else pid}/fd"
    for fd in os.listdir(where):
        try:
            fds[int(fd)] = os.readlink(f"{where}/{fd}")
        except OSError:  # closed meanwhile (or the one os.listdir used)
            continue
    return fds


def _text(data: bytes) -> str:
    """Bytes a process wrote, as ``text=True`` pipes would give them (UTF-8, universal newlines)."""
    return data.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n")


class _Pipe:
    """All that a spawned process writes on one pipe, read by a daemon thread as it comes.

    Nothing here calls ``select()`` (which cannot take a descriptor above 1023),
    the pipe never fills up and blocks the writer, and the thread is the only
    reader of the pipe and the one that closes it, at end of file.
    """

    def __init__(self, stream: t.IO[str] | None) -> None:
        self._stream = stream
        self._chunks: list[bytes] = []
        self._eof = False
        self._changed = threading.Condition()
        name = f"pipe-{stream.fileno()}" if stream is not None else "no-pipe"
        self._thread = threading.Thread(target=self._pump, name=name, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        if self._stream is None:  # not a pipe (DEVNULL, a file): nothing to read
            with self._changed:
                self._eof = True
                self._changed.notify_all()
            return
        fd = self._stream.fileno()
        try:
            while chunk := os.read(fd, 65536):
                with self._changed:
                    self._chunks.append(chunk)
                    self._changed.notify_all()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                self._stream.close()
            with self._changed:
                self._eof = True
                self._changed.notify_all()

    def text(self, until: str | None = None, seconds: float = 0.0) -> str:
        """What was written so far, waiting up to ``seconds`` for ``until`` to appear (or the end of the pipe)."""
        deadline = time.monotonic() + seconds
        with self._changed:
            while True:
                text = _text(b"".join(self._chunks))
                left = deadline - time.monotonic()
                if self._eof or left <= 0 or (until is not None and until in text):
                    return text
                self._changed.wait(left)

    def closed(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the end of the pipe (every writer gone); whether it came."""
        self._thread.join(max(0.0, seconds))
        return not self._thread.is_alive()


def processes() -> t.Iterator[tuple[int, list[str]]]:
    """Every process now: its pid and the fields of ``/proc/PID/stat`` after its name (``[0]`` the state,
    ``[1]`` the parent's pid, ``[2]`` the process group, ``[3]`` the session)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            yield int(entry), fields


def _process_groups() -> set[int]:
    """The process groups that have a member now."""
    return {int(fields[2]) for _pid, fields in processes()}


class Env:
    """A private HOME/XDG/CTASK_HOME and a private tmux socket for one test."""

    def __init__(self, root: Path, config: dict[str, t.Any] | None = None) -> None:
        self.root = root
        self.home = root / "home"
        self.ctask_home = root / "ctask"
        # tmux socket paths must stay under ~100 bytes: keep them in a short dir.
        self.sock_dir = Path(tempfile.mkdtemp(prefix="ct", dir="/tmp"))
        self.socket = str(self.sock_dir / "tmux.sock")
        self.config_path = root / "config.yaml"
        for d in (self.home, root / "xdg-data", root / "xdg-config", root / "xdg-state", root / "xdg-cache"):
            d.mkdir(parents=True, exist_ok=True)
        self.write_config(config or {})
        self.vars = {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(root / "xdg-data"),
            "XDG_CONFIG_HOME": str(root / "xdg-config"),
            "XDG_STATE_HOME": str(root / "xdg-state"),
            "XDG_CACHE_HOME": str(root / "xdg-cache"),
            "CTASK_HOME": str(self.ctask_home),
            "CTASK_CONFIG": str(self.config_path),
            "CTASK_TMUX_SOCKET": self.socket,
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(REPO),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.procs: list[subprocess.Popen[str]] = []
        self._pipes: weakref.WeakKeyDictionary[subprocess.Popen[str], tuple[_Pipe, _Pipe]] = weakref.WeakKeyDictionary()
        """(stdout, stderr) of each process :meth:`spawn` started, keyed by the process object, never by
        its pid: pids are reused (a soak of a thousand rounds goes round /proc/sys/kernel/pid_max), and
        a new process must never see what an old one with the same pid wrote."""
        self._spawned_pids: set[int] = set()
        self.reused_pids = 0
        """How many spawned processes got the pid of an earlier one (harmless, see ``_pipes``)."""

    def write_config(self, overrides: dict[str, t.Any]) -> None:
        data = {**FAST_CONFIG, **overrides}
        self.config_path.write_text(yaml.safe_dump(data))

    def task_dir(self, name: str) -> Path:
        """Task NAME's control directory (its agent's tree is :meth:`tree`)."""
        return self.ctask_home / "tasks" / name

    def run(
        self,
        *args: str,
        timeout: float = 60,
        env: dict[str, str] | None = None,
        check: bool = False,
        prefix: t.Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        """Run ``ctask ARGS`` to its end (``prefix``: a wrapper command such as setpriv)."""
        proc = subprocess.run(
            [*prefix, sys.executable, "-m", "ctask_ls.cli", *args],
            env={**self.vars, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"ctask {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def json(self, *args: str) -> t.Any:
        proc = self.run(*args, "--json", check=True)
        return json.loads(proc.stdout)

    def spawn(
        self, *args: str, env: dict[str, str] | None = None, prefix: t.Sequence[str] = ()
    ) -> subprocess.Popen[str]:
        """Start ``ctask ARGS`` in the background, in its own process group (``prefix``: as for :meth:`run`).

        Its stdout and stderr are read as they come by threads: read them only through
        :meth:`stderr_so_far` and :meth:`finish` (which also closes them), never from the pipes.
        """
        proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "ctask_ls.cli", *args],
            env={**self.vars, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.root,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        self.procs.append(proc)
        self._pipes[proc] = (_Pipe(proc.stdout), _Pipe(proc.stderr))
        self.reused_pids += proc.pid in self._spawned_pids
        self._spawned_pids.add(proc.pid)
        return proc

    def background(self, argv: t.Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start a long-running process (a ``ctask-ls`` on a port, a browser) in its own process group.

        Its stderr is kept (read it with :meth:`stderr_so_far`), its stdout dropped; :meth:`cleanup`
        kills it even when the test fails.
        """
        proc = subprocess.Popen(
            list(argv),
            env={**self.vars, **(env or {})},
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def run_group(
        self,
        argv: t.Sequence[str],
        *,
        timeout: float,
        reap: t.Callable[[subprocess.Popen[str]], None],
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> tuple[int, str, str]:
        """Run ``argv`` (an editor driver) in its own process group to its end: (exit status, stdout, stderr).

        Past ``timeout`` the whole group is killed and stderr says so; ``reap`` then runs whatever
        happened, to end what the process left behind (its language servers).
        """
        proc = subprocess.Popen(
            list(argv),
            env={**self.vars, **(env or {})},
            cwd=cwd or self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            stderr += f"\n(killed after {timeout}s)"
        finally:
            reap(proc)
        return proc.returncode, stdout, stderr

    def server_pids(self) -> list[int]:
        """Pids of ``ctask-ls`` processes running with this environment's CTASK_HOME.

        Editors start language servers detached (their own process group) and
        on exit only ask them to shut down; a test reaps what is left by these.
        """
        marker = f"CTASK_HOME={self.ctask_home}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            is_server = any(a.endswith(b"ctask-ls") for a in argv) or b"ctask_ls" in argv[1:3]
            if is_server and marker in environ:
                pids.append(int(entry.name))
        return pids

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )

    def tmux_sessions(self) -> list[str]:
        out = self.tmux("list-sessions", "-F", "#{session_name}")
        return out.stdout.split() if out.returncode == 0 else []

    def lease(self, name: str) -> dict[str, t.Any] | None:
        try:
            return t.cast(dict[str, t.Any], yaml.safe_load((self.task_dir(name) / "lease.yaml").read_text()))
        except FileNotFoundError:
            return None

    def sessions(self, name: str) -> list[dict[str, t.Any]]:
        try:
            text = (self.task_dir(name) / "sessions.jsonl").read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def summary(self, name: str) -> dict[str, t.Any] | None:
        try:
            return t.cast(dict[str, t.Any], yaml.safe_load((self.task_dir(name) / "summary.yaml").read_text()))
        except FileNotFoundError:
            return None

    def events(self, name: str) -> list[dict[str, t.Any]]:
        try:
            text = (self.task_dir(name) / "events.jsonl").read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    # -- session-core helpers -------------------------------------------------------------

    def tmux_name(self, name: str) -> str:
        """The tmux session of task NAME (SPEC 2)."""
        return "ctask-" + name.replace(".", "_").replace(":", "_")

    def pane(self, name: str) -> dict[str, t.Any] | None:
        """The pane of task NAME's tmux session: ``{dead, status, pid}``, None when there is none."""
        out = self.tmux(
            "list-panes", "-t", f"={self.tmux_name(name)}:", "-F", "#{pane_dead} #{pane_dead_status} #{pane_pid}"
        )
        if out.returncode != 0 or not out.stdout.strip():
            return None
        dead, status, pid = [*out.stdout.splitlines()[0].split(" "), "", ""][:3]
        return {
            "dead": dead == "1",
            "status": int(status) if status.lstrip("-").isdigit() else None,
            "pid": int(pid) if pid.isdigit() else None,
        }

    def tmux_alive(self, name: str) -> bool:
        pane = self.pane(name)
        return pane is not None and not pane["dead"]

    def task_names(self) -> list[str]:
        """The entries of ``<home>/tasks`` that are tasks (not the home's own hidden files)."""
        tasks = self.ctask_home / "tasks"
        return sorted(p.name for p in tasks.iterdir() if not p.name.startswith(".")) if tasks.is_dir() else []

    def tree(self, name: str) -> Path:
        """Task NAME's tree, where its agent works (``work/`` in its control directory, SPEC 2)."""
        return self.task_dir(name) / "work"

    def read(self, name: str, rel: str) -> bytes:
        """The bytes of a file in task NAME's tree (the agent's files)."""
        return (self.tree(name) / rel).read_bytes()

    def read_control(self, name: str, rel: str) -> bytes:
        """The bytes of one of task NAME's control files (``task.yaml``, ``lease.yaml``, ...)."""
        return (self.task_dir(name) / rel).read_bytes()

    def task_yaml(self, name: str) -> dict[str, t.Any]:
        return t.cast(dict[str, t.Any], yaml.safe_load(self.read_control(name, "task.yaml")))

    def write_lease(
        self,
        name: str,
        *,
        host: str | None = None,
        pid: int | None = None,
        heartbeat_age: float = 0.0,
        **fields: t.Any,
    ) -> dict[str, t.Any]:
        """Write a well-formed ``lease.yaml`` for task NAME (default: this host, this pid, fresh)."""
        import datetime as dt
        import socket

        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        beat = now - dt.timedelta(seconds=heartbeat_age)
        host = socket.gethostname() if host is None else host
        pid = os.getpid() if pid is None else pid
        data: dict[str, t.Any] = {
            "schema": 1,
            "session_id": f"{host}-{pid}-{int(beat.timestamp())}",
            "host": host,
            "pid": pid,
            "agent": "python",
            "mode": "persistent",
            "tmux_session": self.tmux_name(name),
            "started_at": beat.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "heartbeat_at": beat.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "owner": "cli",
            **fields,
        }
        path = self.task_dir(name) / "lease.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return data

    def bare_task(self, name: str) -> None:
        """A task that never ran: an empty workspace directory given a fresh task.yaml by ``ctask repair``."""
        self.task_dir(name).mkdir(parents=True)
        proc = self.run("repair", name)
        if proc.returncode != 0:
            raise AssertionError(f"ctask repair {name} failed ({proc.returncode}): {proc.stderr}")

    def new(
        self, name: str, agent: t.Sequence[str], *agent_args: str, extra: t.Sequence[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        """``ctask new NAME --agent PYTHON [extra] -- SCRIPT ARGS`` run to its end."""
        return self.run("new", name, *extra, "--agent", agent[0], "--", *agent[1:], *agent_args)

    def new_detached(self, name: str, agent: t.Sequence[str], *agent_args: str) -> subprocess.CompletedProcess[str]:
        """Launch task NAME detached (the session runs unowned); fails the test if it does not start."""
        proc = self.new(name, agent, *agent_args, extra=("--detach",))
        if proc.returncode != 0:
            raise AssertionError(f"ctask new {name} --detach failed ({proc.returncode}): {proc.stderr}")
        return proc

    def spawn_new(
        self, name: str, agent: t.Sequence[str], *agent_args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """``ctask new`` in the background; returns once it owns a running session."""
        proc = self.spawn("new", name, "--agent", agent[0], "--", *agent[1:], *agent_args, env=env)
        self.wait_owned(name, proc)
        return proc

    def wait_owned(self, name: str, proc: subprocess.Popen[str], seconds: float = 15.0) -> dict[str, t.Any]:
        """Wait until ``proc`` owns task NAME's verified session (it says so on stderr); return the lease."""
        marker = f"owning task {name} "
        if marker not in self.stderr_so_far(proc, until=marker, seconds=seconds):
            if proc.poll() is not None:
                _code, out, err = self.finish(proc)
                raise AssertionError(f"ctask exited with {proc.returncode} before owning {name}: {err}{out}")
            raise AssertionError(f"ctask did not own {name} within {seconds}s: {self.stderr_so_far(proc)}")
        lease = self.lease(name)
        assert lease is not None and lease.get("pid") == proc.pid, f"{proc.pid} says it owns {name}: {lease}"
        return lease

    def stderr_so_far(self, proc: subprocess.Popen[str], until: str | None = None, seconds: float = 0.0) -> str:
        """What a spawned ctask wrote on stderr so far (waits until ``until`` appears or ``seconds`` pass)."""
        pipe = self._pipes_of(proc)[1]
        if proc.poll() is not None:  # it has exited: everything it wrote is there to read
            pipe.closed(5)
        return pipe.text(until, seconds)

    def _pipes_of(self, proc: subprocess.Popen[str]) -> tuple[_Pipe, _Pipe]:
        """The readers of ``proc``'s pipes; a process a test started itself gets them on first use."""
        if proc not in self._pipes:
            self._pipes[proc] = (_Pipe(proc.stdout), _Pipe(proc.stderr))
        return self._pipes[proc]

    def finish(self, proc: subprocess.Popen[str], timeout: float = 20.0) -> tuple[int, str, str]:
        """Wait for a spawned ctask; return (exit status, stdout, stderr).

        Raises :class:`subprocess.TimeoutExpired` if it is still running after ``timeout``.
        Its pipes are read to their end and closed.
        """
        deadline = time.monotonic() + timeout
        code = proc.wait(timeout=timeout)
        out, err = self._pipes_of(proc)
        for pipe in (out, err):  # a child the process left behind may hold them a little longer
            pipe.closed(deadline - time.monotonic())
        return code, out.text(), err.text()

    def own_until_done(self, command: str, name: str, *args: str) -> tuple[str, str]:
        """``ctask COMMAND NAME ARGS`` (attach, resume) owns the session, whose agent then finishes (``go``).

        The command must own the session and exit 0; its (stdout, stderr).
        """
        owner = self.spawn(command, name, *args)
        self.wait_owned(name, owner)
        self.go(name)
        code, out, err = self.finish(owner)
        assert code == 0, err
        return out, err

    def go(self, name: str, flag: str = "go") -> None:
        """Create FLAG in the workspace: releases an agent started with ``wait=FLAG``."""
        (self.tree(name) / flag).write_text("")

    def records(self, name: str, expected: int) -> list[dict[str, t.Any]]:
        """The session log, asserting exactly ``expected`` records with distinct session ids."""
        records = self.sessions(name)
        ids = [r.get("session_id") for r in records]
        assert len(records) == expected, f"expected {expected} session records, got {len(records)}: {records}"
        assert len(set(ids)) == len(ids), f"a session was logged twice: {ids}"
        for record in records:
            assert "added" not in record and "modified" not in record and "deleted" not in record, record
        return records

    def session_log_problems(self) -> list[str]:
        """Every task's log must hold at most one record per session, and one for its last summary."""
        problems: list[str] = []
        homes = (self.ctask_home, self.root / "xdg-data" / "ctask", self.home / ".local" / "share" / "ctask")
        for tasks in (home / "tasks" for home in homes):
            for ws in sorted(tasks.iterdir()) if tasks.is_dir() else []:
                ids: list[str] = []
                log = ws / "sessions.jsonl"
                if log.is_file():
                    for line in log.read_bytes().splitlines():
                        with contextlib.suppress(ValueError):
                            record = json.loads(line)
                            if isinstance(record, dict):
                                ids.append(str(record.get("session_id")))
                if len(set(ids)) != len(ids):
                    problems.append(f"{ws.name}: a session was logged twice: {ids}")
                try:
                    summary = yaml.safe_load((ws / "summary.yaml").read_bytes())
                except (OSError, yaml.YAMLError):
                    continue
                if isinstance(summary, dict) and str(summary.get("session_id")) not in ids:
                    problems.append(f"{ws.name}: session {summary.get('session_id')} has a summary but no log record")
        return problems

    def event_kinds(self, name: str) -> list[str]:
        return [e.get("event", "") for e in self.events(name)]

    def cleanup(self) -> None:
        """Never raises: kill background processes, the tmux server, temp dirs."""
        groups = _process_groups()
        for proc in self.procs:
            # The group of a process already reaped is only killed while it still has members (what
            # the process left behind): once empty, its number may have gone to an unrelated process.
            with contextlib.suppress(Exception):
                if proc.returncode is None or proc.pid in groups:
                    os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
            pipes = self._pipes.get(proc)
            for pipe in pipes or ():
                pipe.closed(5)  # the reader thread closes its pipe at end of file
            if pipes is None:  # a process a test started itself and appended here
                for stream in (proc.stdout, proc.stderr):
                    with contextlib.suppress(Exception):
                        if stream is not None:
                            stream.close()
        with contextlib.suppress(Exception):
            self.tmux("kill-server")
        shutil.rmtree(self.sock_dir, ignore_errors=True)


AGENT_SCRIPT = """\
import os, sys, time, pathlib
here = pathlib.Path(os.environ.get("CTASK_WORKTREE") or os.environ.get("CTASK_WORKSPACE", "."))
for arg in sys.argv[1:]:
    if arg.startswith("write="):
        name, _, text = arg[6:].partition(":")
        (here / name).write_text(text)
    elif arg.startswith("sleep="):
        time.sleep(float(arg[6:]))
    elif arg.startswith("wait="):
        path = here / arg[5:]
        while not path.exists():
            time.sleep(0.05)
    elif arg.startswith("exit="):
        sys.exit(int(arg[5:]))
    elif arg.startswith("print="):
        print(arg[6:], flush=True)
    elif arg.startswith("dump="):
        import json
        record = {"argv": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd(), "pid": os.getpid()}
        (here / arg[5:]).write_text(json.dumps(record))
"""
