"""The reaper: tmux records a session whose agent ended while no ctask process owned it (SPEC 3.8).

Every session's tmux ``pane-died`` hook signals its owner's channel and, in
the background, runs ``python -I -m ctask_ls.core.reaper CONTROL_DIR``.  With
an owner alive (its lease fresh) this does nothing: the owner records the
session itself, as it learns of the exit from the same hook.  With none (it
was killed, released the session with Ctrl-C, or the session was launched
detached) this reconciles the task at once, so the session is recorded
promptly even when no ctask process runs at all.

tmux runs the hook with its own minimal environment, so the settings a
launch saw (home, tmux server, lease timings, ignore patterns) are left in
``reaper.json`` (0600) in the control directory.  Whatever happens, the
reaper prints nothing and exits 0: it only ever does what the next ``ctask
list`` would have done.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ctask_ls.core import config as configs
from ctask_ls.core.context import Context
from ctask_ls.core.reconcile import reconcile
from ctask_ls.core.storage import read_limited
from ctask_ls.core.workspace import REAPER_SETTINGS


def main(args: list[str]) -> int:
    try:
        control = Path(args[0])
        config = configs.from_snapshot(json.loads(read_limited(control / REAPER_SETTINGS, 65536)))
        ctx = Context(config)
        ws = ctx.workspace(control.name)
        if ws.root == control:  # the task of that home, not a namesake elsewhere
            reconcile(ctx, ws)
    except BaseException:  # noqa: BLE001, S110 - a hook's helper must never be noisy
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
