"""The first process of an agent's tmux pane: set the environment, exec the agent.

``python -m ctask_ls.core.execagent NAMES_JSON AGENT ARGS...``

A tmux server hands new panes *its own* global environment (the one of
whichever client started it) plus the session's ``-e`` variables.  ctask wants
the agent to see exactly the environment of SPEC 3.3, so the pane starts here:
we keep the variables named in ``NAMES_JSON`` (the ones ctask passed with
``-e``) and the ones tmux sets for every pane (``TERM``, ``TMUX``,
``TMUX_PANE``), drop everything else, and ``execv`` the agent.  The agent
replaces this process: nothing is left behind it.  This module imports only
``os``, ``sys`` and ``json`` so it adds a few milliseconds to a launch.
"""

from __future__ import annotations

import json
import os
import sys

FROM_TMUX = ("TERM", "TMUX", "TMUX_PANE", "COLORTERM")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m ctask_ls.core.execagent NAMES_JSON AGENT [ARGS...]", file=sys.stderr)
        return 2
    keep = set(json.loads(argv[0])) | set(FROM_TMUX)
    env = {k: v for k, v in os.environ.items() if k in keep}
    try:
        os.execve(argv[1], argv[1:], env)
    except OSError as exc:
        print(f"ctask: cannot run {argv[1]}: {exc.strerror}", file=sys.stderr, flush=True)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
