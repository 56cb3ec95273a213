"""The first process of an agent's tmux pane: read the environment from its file, exec the agent.

``python -I .../execagent.py ENV_FILE AGENT ARGS...``

No environment value ever appears on a command line (SPEC 3.3): any local
user reads command lines in ``ps``, and the tmux server keeps the command
line of the client that started it for its whole life.  So ctask writes the
agent's environment, a JSON object of names to values, to ``ENV_FILE``
(0600, in the task's control directory, see
:func:`ctask_ls.core.storage.write_private`), and the pane starts here: we
read the file, remove it, keep those variables and the ones tmux sets for
every pane (``TERM``, ``TMUX``, ``TMUX_PANE``, ``COLORTERM``; the file's
win), drop everything else (the tmux server's global environment, the one
of whichever client started it), and ``execve`` the agent.  The agent
replaces this process; all that is left beside it is a watcher of its
exit, which tells tmux of it (:func:`watch_exit`).

The pane runs this file by its path under ``python -I``: it needs nothing
of the environment (no ``PYTHONPATH``, no site of the user) and imports
only ``os``, ``sys``, ``stat`` and ``json``, so it adds a few milliseconds
to a launch (``signal`` for the agent's signals; the watcher imports the
rest after its fork).
"""

from __future__ import annotations

import json
import os
import stat
import sys

FROM_TMUX = ("TERM", "TMUX", "TMUX_PANE", "COLORTERM")
MAX_ENV_BYTES = 16 << 20
"""An environment file larger than this is refused (Linux allows a few MB of environment at most)."""


def read_env_file(path: str) -> dict[str, str]:
    """The environment in ``path``, a regular file of the user's that is removed once read.

    Raises OSError when the file cannot be opened or is not one ctask wrote,
    ValueError when its contents are not a JSON object of strings.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
            raise OSError(0, "not a regular file of this user")
        try:
            chunks: list[bytes] = []
            size = 0
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_ENV_BYTES:
                    raise ValueError(f"larger than {MAX_ENV_BYTES} bytes")
        finally:
            os.unlink(path)  # read or not, the secret goes now
    finally:
        os.close(fd)
    env = json.loads(b"".join(chunks))
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise ValueError("not a JSON object of strings")
    return env


def restore_signals() -> None:
    """Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across ``execve``: the agent
    gets them back as any program started from a shell has them (as ``subprocess``'s ``restore_signals``
    does). Else ``yes | head -1`` in the agent's shell says "Broken pipe", and a shell agent cannot undo it."""
    import signal

    for name in ("SIGPIPE", "SIGXFSZ"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_DFL)


NUDGE = (
    # $1: the tmux server's pid. The TERM is the kernel's, sent as the agent (our parent) ends, a moment before
    # it is a zombie that tmux can reap: tmux is sent the SIGCHLD it may miss 50 ms later (one sent at once
    # made tmux miss the agent's own now and then: +200 ms at the exit bench's p95), and twice more, then we go.
    'trap \'sleep 0.05; kill -CHLD "$1"; sleep 0.2; kill -CHLD "$1"; sleep 1; kill -CHLD "$1"; '
    'kill "$s"; exit 0\' TERM\n'
    "sleep 2147483647 & s=$!\n"
    "wait\n"
)
PR_SET_PDEATHSIG = 1


def watch_exit(tmux_pid: int) -> None:
    """Leave a watcher of the agent this process becomes, which makes sure tmux learns of its exit.

    tmux 3.3 now and then misses an agent's SIGCHLD: it never reaps the
    agent, knows neither its exit status nor its end, and runs no
    ``pane-died`` hook, so the session's owner, or with none the reaper,
    is not told.  Another SIGCHLD makes tmux reap every child it has
    (``waitpid`` in a loop), which it then handles as usual.  So a child
    of ours asks the kernel for a SIGTERM when its parent ends (Linux's
    ``PR_SET_PDEATHSIG``, kept across the ``execve`` of the agent and of
    ``/bin/sh``) and sends tmux that SIGCHLD then.  The watcher is a
    ``sh`` and a ``sleep`` (about 1 MB together), in a session of its own
    (a Ctrl-C in the pane does not reach it), holding no descriptor of
    the pane (tmux sees the pane close as before), in ``/``, with no
    environment of the agent's; it is gone 1.25 s after the agent.
    Where it cannot be set up, the agent runs as before.
    """
    try:
        pid = os.fork()
    except OSError:
        return
    if pid != 0:
        return
    try:
        parent = os.getppid()
        os.setsid()
        os.chdir("/")
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        import ctypes  # only here, in the watcher: the agent's start pays nothing for these
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            os._exit(0)
        if os.getppid() != parent:  # the agent ended before the request was made
            os.kill(tmux_pid, signal.SIGCHLD)
            os._exit(0)
        os.execve("/bin/sh", ["sh", "-c", NUDGE, "ctask-exit-watch", str(tmux_pid)], {"PATH": "/usr/bin:/bin"})
    except BaseException:  # noqa: BLE001, S110 - the watcher must never disturb the agent's start
        pass
    os._exit(0)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -I execagent.py ENV_FILE AGENT [ARGS...]", file=sys.stderr)
        return 2
    try:
        passed = read_env_file(argv[0])
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        print(f"ctask: cannot read the agent's environment from {argv[0]}: {why}", file=sys.stderr, flush=True)
        return 127
    env = {k: v for k, v in os.environ.items() if k in FROM_TMUX}
    env.update(passed)
    watch_exit(os.getppid())
    restore_signals()
    try:
        os.execve(argv[1], argv[1:], env)
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        print(f"ctask: cannot run {argv[1]}: {why}", file=sys.stderr, flush=True)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
