"""``ctask demo``: the whole life of a task, in a private home, in about ten seconds.

It creates a private ctask home and a private tmux server in a temporary
directory (nothing of the user's is touched), creates a task whose agent is
the scripted :mod:`ctask_ls.demo.agent`, seeds its workspace with two files,
launches the agent in a real tmux session, prints the lease state and live
diff while it works, then finalizes and prints the summary.  It leaves nothing
running: the private tmux server is killed and the temporary home removed
(``--keep`` keeps the home for a look around and prints its path).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ctask_ls.core.api import AgentSpec, Config, Core, NewTask


def _line(text: str) -> None:
    print(text, flush=True)


def run_demo(*, keep: bool = False, seconds: float = 6.0) -> int:
    root = Path(tempfile.mkdtemp(prefix="ctask-demo-"))
    config = Config(
        home=root / "home",
        agent=AgentSpec(sys.executable, ("-m", "ctask_ls.demo.agent", "--seconds", f"{seconds:g}")),
        heartbeat_interval=1.0,
        stale_after=10.0,
        poll_interval=0.2,
        tmux_socket=str(root / "tmux.sock"),
    )
    core = Core(config, owner="cli", say=lambda msg: _line(f"[ctask] {msg}"))
    try:
        return _demo(core, seconds)
    finally:
        with contextlib.suppress(Exception):
            core.tmux.kill_server()
        _wait_for_helpers(root)
        if keep:
            _line(f"\nthe demo's home is kept at {config.home}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _wait_for_helpers(root: Path, seconds: float = 10.0) -> None:
    """Wait until no process names ``root`` on its command line: the tmux server, and the reaper its
    ``pane-died`` hook started when the agent exited (:mod:`ctask_ls.core.reaper`), which on a busy machine
    may still be starting when the demo ends and would otherwise write into the home after its removal.
    Linux only (``/proc``); elsewhere it returns at once."""
    needle = os.fsencode(root) + b"/"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            pids = [e.name for e in os.scandir("/proc") if e.name.isdigit() and int(e.name) != os.getpid()]
        except OSError:
            return
        busy = False
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    busy = needle in f.read()
            except OSError:
                continue
            if busy:
                break
        if not busy:
            return
        time.sleep(0.05)


def _demo(core: Core, seconds: float) -> int:
    _line(f"ctask demo: a private home and tmux server in {core.config.home.parent}\n")
    ws, meta, agent = core.create(NewTask(name="demo", description="scripted agent writes a few files"))
    (ws.tree / "README.txt").write_text("A small project.\n")
    (ws.tree / "build.log").write_text("old build output\n")
    _line(f"$ ctask new demo        # the agent's tree: {ws.tree}")
    owned = core.launch(ws, agent, meta)  # clears provisional once the agent runs
    _line(f"  agent running in tmux session {ws.tmux_session} (attach: tmux -S {core.tmux.socket} attach)\n")
    _line("$ ctask status demo      # while the agent works")
    last = ""
    end = None
    deadline = time.monotonic() + seconds + 30
    while end is None and time.monotonic() < deadline:
        end = owned.check(core.tmux.panes())
        if end is not None:
            break
        info = core.inspect(ws)
        d = owned.live_diff()
        c = d.counts
        owner = f"{info.lease.owner} pid {info.lease.pid}" if info.lease else "-"
        key = f"{info.state} {owner} +{c['added']} ~{c['modified']} -{c['deleted']}"
        if key != last:
            _line(
                f"  lease {info.state:<11} owner {owner}, heartbeat {info.age_s or 0:.0f}s ago | "
                f"tmux running | changes +{c['added']} ~{c['modified']} -{c['deleted']}"
            )
            last = key
        time.sleep(0.5)
    if end is None:
        core.stop("demo")
        _line("the demo agent took too long; stopped it")
        return 1
    summary = owned.finalize(end)
    if summary is None:
        _line("the session was recorded by another process")
        return 1
    info = core.inspect(ws)
    _line(f"\n  agent exited; lease now {info.state}, tmux session gone: {core.tmux.pane(ws.tmux_session) is None}\n")
    _line("$ ctask diff demo        # the final summary")
    c = summary["counts"]
    _line(
        f"  session {summary['session_id']}: {summary['end_reason']} (exit status {summary.get('exit_status')}) "
        f"after {summary['duration_s']}s, {summary['session_ownership']}, baseline {summary['baseline']}"
    )
    _line(f"  added {c['added']}, modified {c['modified']}, deleted {c['deleted']}")
    for mark, key in (("+", "added"), ("~", "modified"), ("-", "deleted")):
        for path in summary[key]:
            _line(f"  {mark} {path}")
    if summary.get("last_lines"):
        _line("\n  the agent's last screen lines:")
        for text in summary["last_lines"][-4:]:
            _line(f"    {text}")
    records, _ = core.log("demo")
    _line(f"\n$ ctask log demo         # {len(records)} session recorded in {ws.sessions_log.name}")
    _line("\ndemo finished: nothing left running.")
    return 0
