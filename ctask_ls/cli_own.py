"""Owning a session from a terminal: attach to it, watch it until it ends, release it on Ctrl-C.

Terminal behaviour (a decision the spec leaves open): a launching command
attaches the caller's terminal to the tmux session when stdin and stdout are
terminals.  Without a terminal (scripts, CI, editors) it does not attach; it
owns the session and waits for it to end, exactly as it does after you detach
with ``C-b d``.  Ctrl-C (or SIGTERM/SIGHUP) while waiting *releases* the
session: the lease is removed, the agent keeps running, and the next
``ctask attach``/``resume``, ``ctask list`` or the server takes it over.
"""

from __future__ import annotations

import signal
import sys
import threading
import typing as t

from ctask_ls.cli_print import err, lease_text, out, print_json, print_summary, say
from ctask_ls.core.api import NoSession, OutcomeKind, terminal_safe

if t.TYPE_CHECKING:
    import argparse

    from ctask_ls.core.api import Core, LeaseInfo, Outcome, OwnedSession, Workspace


def is_tty() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


class _Interrupts:
    """SIGINT/SIGTERM/SIGHUP set an event instead of killing us mid-write."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._old: dict[int, t.Any] = {}

    def __enter__(self) -> threading.Event:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._old[sig] = signal.signal(sig, lambda _s, _f: self.event.set())
        return self.event

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def confirm_factory(yes: bool) -> t.Callable[[Workspace, LeaseInfo], bool]:
    def confirm(ws: Workspace, info: LeaseInfo) -> bool:
        if yes:
            return True
        if not is_tty():
            return False
        lease = info.lease
        who = f"{lease.host} pid {lease.pid}" if lease else "another host"
        answer = input(terminal_safe(f"task {ws.name} is held by {who} with a fresh heartbeat. Adopt it here? [y/N] "))
        return answer.strip().lower() in ("y", "yes")

    return confirm


def ask_fresh(ws: Workspace, why: str) -> bool:
    """Resuming the conversation failed: start a new one?  Asked on a terminal only (a script passes --fresh)."""
    if not is_tty():
        return False
    answer = input(terminal_safe(f"task {ws.name}: {why}. Start a new conversation? [y/N] "))
    return answer.strip().lower() in ("y", "yes")


def own(core: Core, owned: OwnedSession, *, attach: bool, as_json: bool, adopted: bool) -> int:
    """Attach (with a terminal), and own the session until it ends.

    A watcher thread owns the session the whole time, attached or not: the
    moment the agent exits it records the session, and its finalize kills
    what is left of the tmux session, so an attached terminal (this one, or
    an editor's) returns by itself; nobody is left looking at a dead pane.
    """
    ws = owned.ws
    outcome: list[tuple[bool, dict[str, t.Any] | None]] = []  # (the session ended, its summary)

    failures: list[BaseException] = []

    def watch() -> None:
        try:
            end = owned.wait(interrupted=interrupted)
            outcome.append((end is not None, owned.finalize(end) if end is not None else None))
        except BaseException as exc:  # noqa: BLE001 - raised again on the main thread, where errors are reported
            failures.append(exc)

    with _Interrupts() as interrupted:
        watcher = threading.Thread(target=watch, name=f"ctask-own-{ws.name}", daemon=True)
        watcher.start()
        ended = owned.check(core.tmux.panes()) is not None
        if attach and is_tty() and owned.mode == "persistent" and not ended:
            code, why = core.tmux.attach(ws.tmux_session)
            pane = core.tmux.pane(ws.tmux_session)
            if code != 0 and pane is not None and not pane.dead:
                owned.attach_failed(why)
                if adopted:
                    interrupted.set()
                    watcher.join()
                    owned.release(f"attach failed: {why}")
                    err(f"error: tmux could not attach to {ws.tmux_session}: {why}")
                    return 1
                say(f"warning: tmux could not attach ({why}); still owning the session")
            elif pane is not None and not pane.dead:
                say(f"detached; ctask keeps owning task {ws.name} until its session ends (Ctrl-C releases it)")
        elif owned.mode == "persistent" and not ended:
            say(
                f"owning task {ws.name} (tmux session {ws.tmux_session}) without attaching: no terminal; "
                "waiting for it to end (Ctrl-C releases it)"
            )
        while watcher.is_alive():  # joined in slices: the signal handlers run on this thread
            watcher.join(0.1)
    if failures:
        raise failures[0]
    ended, summary = outcome[0] if outcome else (False, None)
    if not ended:
        if owned.lost is not None:
            say(f"no longer the owner of task {ws.name}: {owned.lost}")
            return 0
        owned.release("interrupted")
        say(f"released task {ws.name}; its session keeps running: `ctask attach {ws.name}` takes it back")
        return 0
    if summary is None:
        say(f"task {ws.name}: {owned.lost or 'the session was recorded by another process'}")
        return 0
    if as_json:
        print_json(summary)
    else:
        print_summary(summary)
    return 0


def after_launch(core: Core, owned: OwnedSession, args: argparse.Namespace, *, adopted: bool) -> int:
    if getattr(args, "detach", False):
        owned.release("detached")
        result = core.launch_result(owned.ws, owned, "detached")
        if args.json:
            print_json(result)
        else:
            out(f"task {owned.ws.name} runs detached in tmux session {owned.ws.tmux_session}")
            out(f"  attach: ctask attach {owned.ws.name}")
        return 0
    if not adopted:
        say(f"started task {owned.ws.name}: {owned.agent} in tmux session {owned.ws.tmux_session}")
    return own(core, owned, attach=True, as_json=args.json, adopted=adopted)


def passive(core: Core, d: Outcome, args: argparse.Namespace) -> int:
    ws = d.ws
    info = d.info or core.inspect(ws)
    if args.json and not is_tty():
        print_json(core.launch_result(ws, None, "passive"))
        return 0
    owner = f"owned by {lease_text(info)}" if info.lease is not None else "not owned by this process"
    if not is_tty():
        out(f"task {ws.name} is {owner}; not attaching: no terminal")
        return 0
    say(f"task {ws.name} is {owner}; attaching without taking it over")
    code, why = core.tmux.attach(ws.tmux_session)
    if code != 0:
        err(f"error: tmux could not attach to {ws.tmux_session}: {why}")
        return 1
    return 0


def resume(core: Core, name: str, args: argparse.Namespace, *, shell: bool = False, launch_new: bool = True) -> int:
    """``resume``/``last``/``open``, and ``attach`` (``launch_new`` False): the core decides, this prints."""
    d = core.resume(
        name,
        confirm=confirm_factory(getattr(args, "yes", False)),
        launch_new=launch_new,
        agent=getattr(args, "agent", None),
        shell=shell,
        fresh=getattr(args, "fresh", False),
        ask_fresh=ask_fresh,
    )
    ws = d.ws
    if d.kind is OutcomeKind.NO_SESSION:
        raise NoSession(f"task {ws.name} has no running session; start one with `ctask resume {ws.name}`", name=ws.name)
    if d.kind is OutcomeKind.PASSIVE or d.owned is None:
        return passive(core, d, args)
    return after_launch(core, d.owned, args, adopted=d.kind is OutcomeKind.ADOPTED)
