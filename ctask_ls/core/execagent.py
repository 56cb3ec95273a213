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
replaces this process: nothing is left behind it.

The pane runs this file by its path under ``python -I``: it needs nothing
of the environment (no ``PYTHONPATH``, no site of the user) and imports
only ``os``, ``sys``, ``stat`` and ``json``, so it adds a few milliseconds
to a launch.
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
    try:
        os.execve(argv[1], argv[1:], env)
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        print(f"ctask: cannot run {argv[1]}: {why}", file=sys.stderr, flush=True)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
