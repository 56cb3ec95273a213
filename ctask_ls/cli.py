"""The ``ctask`` command line: a thin front door over the session core.

Exit status: 0 success, 1 a user-facing error (one ``ctask: error: ...`` line
on stderr that says what to do), 2 bad usage.

Terminal behaviour (a decision the spec leaves open): a launching command
attaches the caller's terminal to the tmux session when stdin and stdout are
terminals.  Without a terminal (scripts, CI, editors) it does not attach; it
owns the session and waits for it to end, exactly as it does after you detach
with ``C-b d``.  Ctrl-C (or SIGTERM/SIGHUP) while waiting *releases* the
session: the lease is removed, the agent keeps running, and the next
``ctask attach``/``resume``, ``ctask list`` or the server takes it over.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import typing as t

from ctask_ls.core.api import Core, CtaskError, NewTask, NoSession, OutcomeKind, load_config, rfc3339

if t.TYPE_CHECKING:
    from ctask_ls.core.api import LeaseInfo, Outcome, OwnedSession, TaskStatus, Workspace


def _err(msg: str) -> None:
    print(f"ctask: {msg}", file=sys.stderr, flush=True)


def _say(msg: str) -> None:
    print(f"[ctask] {msg}", file=sys.stderr, flush=True)


def _print_json(data: object) -> None:
    """Indented for a terminal; compact (and several times faster) for a pipe."""
    if sys.stdout.isatty():
        print(json.dumps(data, indent=2, default=str))
    else:
        print(json.dumps(data, separators=(",", ":"), default=str))


def _is_tty() -> bool:
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


# -- presentation ---------------------------------------------------------------------------


def _lease_text(info: LeaseInfo) -> str:
    if info.lease is None:
        return info.state + (f" ({info.reason})" if info.reason else "")
    lease = info.lease
    text = f"{info.state} ({lease.owner} pid {lease.pid} on {lease.host}, heartbeat {info.age_s or 0:.0f}s ago)"
    if info.reason:
        text = f"{info.state} ({info.reason})"
    return text


def _print_summary(summary: t.Mapping[str, t.Any]) -> None:
    status = f", exit status {summary['exit_status']}" if "exit_status" in summary else ""
    print(
        f"session {summary.get('session_id')} of task {summary.get('task')} ended: "
        f"{summary.get('end_reason')}{status} after {summary.get('duration_s')}s "
        f"({summary.get('session_ownership')}, baseline {summary.get('baseline')}, via {summary.get('detected_via')})"
    )
    _print_changes(summary)


def _print_changes(diff: t.Mapping[str, t.Any]) -> None:
    counts = diff.get("counts") or {}
    print(f"  added {counts.get('added', 0)}, modified {counts.get('modified', 0)}, deleted {counts.get('deleted', 0)}")
    for mark, key in (("+", "added"), ("~", "modified"), ("-", "deleted")):
        for path in diff.get(key) or []:
            print(f"  {mark} {path}")
    if isinstance(view := diff.get("git"), dict):
        _print_git(view)


def _print_git(view: t.Mapping[str, t.Any]) -> None:
    """Git's view of a repo task: commits since the base, then committed and uncommitted files."""
    base = str(view.get("base", ""))[:12]
    if "error" in view:
        print(f"  git: branch {view.get('branch')}, base {base}: {view['error']}")
        return
    head = str(view.get("head", ""))[:12]
    counts = view.get("counts") or {}
    print(f"  git: branch {view.get('branch')}, base {base}, head {head}")
    print(f"  commits since base: {counts.get('commits', 0)}")
    for c in view.get("commits") or []:
        print(f"    {str(c.get('sha', ''))[:12]} {c.get('subject', '')}")
    print(f"  committed (git diff --name-status base HEAD): {counts.get('committed', 0)}")
    for e in view.get("committed") or []:
        print(f"    {e.get('status')}\t{e.get('path')}")
    print(f"  uncommitted (git status): {counts.get('uncommitted', 0)}")
    for e in view.get("uncommitted") or []:
        print(f"    {e.get('status')}\t{e.get('path')}")


def _print_status_line(st: TaskStatus) -> None:
    if st.error is not None:
        print(f"{st.name:<24} ERROR    {st.error}")
        return
    last = st.last_summary
    last_text = "-"
    if last is not None:
        c = last.get("counts") or {}
        last_text = f"{last.get('end_reason')} +{c.get('added', 0)} ~{c.get('modified', 0)} -{c.get('deleted', 0)}"
    updated = rfc3339(st.meta.updated_at) if st.meta else "-"
    tmux = "running" if st.tmux_alive else "-"
    print(f"{st.name:<24} {st.lease.state:<12} {tmux:<8} {updated:<21} {last_text}")


# -- session flows -------------------------------------------------------------------------


def _confirm_factory(yes: bool) -> t.Callable[[Workspace, LeaseInfo], bool]:
    def confirm(ws: Workspace, info: LeaseInfo) -> bool:
        if yes:
            return True
        if not _is_tty():
            return False
        lease = info.lease
        who = f"{lease.host} pid {lease.pid}" if lease else "another host"
        answer = input(f"task {ws.name} is held by {who} with a fresh heartbeat. Adopt it here? [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    return confirm


def _own(core: Core, owned: OwnedSession, *, attach: bool, as_json: bool, adopted: bool) -> int:
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
        if attach and _is_tty() and owned.mode == "persistent" and not ended:
            code, why = core.tmux.attach(ws.tmux_session)
            pane = core.tmux.pane(ws.tmux_session)
            if code != 0 and pane is not None and not pane.dead:
                owned.attach_failed(why)
                if adopted:
                    interrupted.set()
                    watcher.join()
                    owned.release(f"attach failed: {why}")
                    _err(f"error: tmux could not attach to {ws.tmux_session}: {why}")
                    return 1
                _say(f"warning: tmux could not attach ({why}); still owning the session")
            elif pane is not None and not pane.dead:
                _say(f"detached; ctask keeps owning task {ws.name} until its session ends (Ctrl-C releases it)")
        elif owned.mode == "persistent" and not ended:
            _say(
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
            _say(f"no longer the owner of task {ws.name}: {owned.lost}")
            return 0
        owned.release("interrupted")
        _say(f"released task {ws.name}; its session keeps running: `ctask attach {ws.name}` takes it back")
        return 0
    if summary is None:
        _say(f"task {ws.name}: {owned.lost or 'the session was recorded by another process'}")
        return 0
    if as_json:
        _print_json(summary)
    else:
        _print_summary(summary)
    return 0


def _after_launch(core: Core, owned: OwnedSession, args: argparse.Namespace, *, adopted: bool) -> int:
    if getattr(args, "detach", False):
        owned.release("detached")
        result = core.launch_result(owned.ws, owned, "detached")
        if args.json:
            _print_json(result)
        else:
            print(f"task {owned.ws.name} runs detached in tmux session {owned.ws.tmux_session}")
            print(f"  attach: ctask attach {owned.ws.name}")
        return 0
    if not adopted:
        _say(f"started task {owned.ws.name}: {owned.agent} in tmux session {owned.ws.tmux_session}")
    return _own(core, owned, attach=True, as_json=args.json, adopted=adopted)


def _passive(core: Core, d: Outcome, args: argparse.Namespace) -> int:
    ws = d.ws
    info = d.info or core.inspect(ws)
    if args.json and not _is_tty():
        _print_json(core.launch_result(ws, None, "passive"))
        return 0
    owner = f"owned by {_lease_text(info)}" if info.lease is not None else "not owned by this process"
    if not _is_tty():
        print(f"task {ws.name} is {owner}; not attaching: no terminal")
        return 0
    _say(f"task {ws.name} is {owner}; attaching without taking it over")
    code, why = core.tmux.attach(ws.tmux_session)
    if code != 0:
        _err(f"error: tmux could not attach to {ws.tmux_session}: {why}")
        return 1
    return 0


def _resume(core: Core, name: str, args: argparse.Namespace, *, shell: bool = False, launch_new: bool = True) -> int:
    """``resume``/``last``/``open``, and ``attach`` (``launch_new`` False): the core decides, this prints."""
    d = core.resume(
        name,
        confirm=_confirm_factory(getattr(args, "yes", False)),
        launch_new=launch_new,
        agent=getattr(args, "agent", None),
        shell=shell,
    )
    ws = d.ws
    if d.kind is OutcomeKind.NO_SESSION:
        raise NoSession(f"task {ws.name} has no running session; start one with `ctask resume {ws.name}`", name=ws.name)
    if d.kind is OutcomeKind.PASSIVE or d.owned is None:
        return _passive(core, d, args)
    return _after_launch(core, d.owned, args, adopted=d.kind is OutcomeKind.ADOPTED)


# -- commands --------------------------------------------------------------------------------


def cmd_new(core: Core, args: argparse.Namespace) -> int:
    task = NewTask(
        name=args.name,
        agent=args.agent,
        args=args.agent_args,
        description=args.description,
        repo=args.repo,
        branch=args.branch,
        base=args.base,
    )
    _ws, owned = core.new(task)
    return _after_launch(core, owned, args, adopted=False)


def cmd_resume(core: Core, args: argparse.Namespace) -> int:
    return _resume(core, args.name, args)


def cmd_last(core: Core, args: argparse.Namespace) -> int:
    return _resume(core, core.last_task(), args)


def cmd_open(core: Core, args: argparse.Namespace) -> int:
    return _resume(core, args.name, args, shell=True)


def cmd_attach(core: Core, args: argparse.Namespace) -> int:
    return _resume(core, args.name, args, launch_new=False)


def cmd_list(core: Core, args: argparse.Namespace) -> int:
    tasks = core.list_tasks()
    broken = [st for st in tasks if st.error is not None]
    if args.json:
        _print_json([st.to_json() for st in tasks])
    elif not tasks:
        print("no tasks yet; create one with `ctask new NAME`")
    else:
        print(f"{'TASK':<24} {'LEASE':<12} {'TMUX':<8} {'UPDATED':<21} LAST SESSION")
        for st in tasks:
            _print_status_line(st)
    for st in broken:
        _err(f"error: {st.error}")
    return 1 if broken else 0


def cmd_status(core: Core, args: argparse.Namespace) -> int:
    st = core.status(args.name)
    if st.error is not None:
        if args.json:
            _print_json(st.to_json(show_env=args.show_env))
        raise st.error
    if args.json:
        _print_json(st.to_json(show_env=args.show_env))
        return 0
    print(f"task:      {st.name}")
    print(f"workspace: {st.workspace}")
    print(f"lease:     {_lease_text(st.lease)}")
    print(f"tmux:      {st.tmux_session} ({'running' if st.tmux_alive else 'not running'})")
    if st.meta is not None and st.meta.repo is not None:
        repo = st.meta.repo
        print(f"repo:      {repo.path} (branch {repo.branch} from {repo.base[:12]})")
        print(f"worktree:  {repo.worktree}")
    if st.meta is not None:
        agent = " ".join([st.meta.agent.command, *st.meta.agent.args])
        print(f"agent:     {agent}")
        for key, value in st.meta.agent.to_mapping(hide_env=not args.show_env)["env"].items():
            print(f"env:       {key}={value}")
        print(f"updated:   {rfc3339(st.meta.updated_at)}")
    if st.last_summary is not None:
        s = st.last_summary
        c = s.get("counts") or {}
        print(
            f"last:      {s.get('end_reason')} at {s.get('ended_at')} "
            f"(+{c.get('added', 0)} ~{c.get('modified', 0)} -{c.get('deleted', 0)})"
        )
    return 0


def cmd_stop(core: Core, args: argparse.Namespace) -> int:
    result = core.stop(args.name)
    if args.json:
        _print_json(result.to_json())
        return 0
    if result.summary:
        _print_summary(result.summary)
    elif result.stopped:
        print(f"stopped task {args.name}; its owner will record the session")
    else:
        print(f"task {args.name} had already ended; its owner is recording the session")
    return 0


def cmd_diff(core: Core, args: argparse.Namespace) -> int:
    d = core.diff(args.name)
    if args.json:
        _print_json(d)
        return 0
    where = "since the running session started" if d["live"] else "in the last session"
    print(f"changes of task {args.name} {where}:")
    _print_changes(d)
    return 0


def _field(record: t.Mapping[str, t.Any], key: str) -> str:
    """A log record's field as text: a hand-edited record may lack it or hold any type."""
    value = record.get(key)
    return "-" if value is None else str(value)


def cmd_log(core: Core, args: argparse.Namespace) -> int:
    sessions, problems = core.log(args.name, args.limit)
    for problem in problems:
        _say(f"warning: {problem}")
    if args.json:
        _print_json(sessions)
        return 0
    if not sessions:
        print(f"task {args.name} has no finished sessions yet")
    for s in sessions:
        c = s.get("counts")
        c = c if isinstance(c, dict) else {}
        ended, sid, reason, ownership, duration = (
            _field(s, k) for k in ("ended_at", "session_id", "end_reason", "session_ownership", "duration_s")
        )
        print(
            f"{ended}  {sid}  {reason:<18} {ownership:<8} {duration}s  "
            f"+{c.get('added', 0)} ~{c.get('modified', 0)} -{c.get('deleted', 0)}"
        )
    return 0


def cmd_rm(core: Core, args: argparse.Namespace) -> int:
    result = core.remove(args.name, force=args.force, delete_branch=args.delete_branch)
    for warning in result["warnings"]:
        _say(f"warning: {warning}")
    if args.json:
        _print_json(result)
        return 0
    print(f"removed task {args.name} ({result['workspace']})")
    if "branch" in result:
        print(f"branch {result['branch']} {'deleted' if result['branch_deleted'] else 'kept'}")
    return 0


def cmd_repair(core: Core, args: argparse.Namespace) -> int:
    moved = core.repair(args.name)
    if args.json:
        _print_json({"task": args.name, "moved": moved})
    elif moved:
        for path in moved:
            print(f"moved aside: {path}")
    else:
        print(f"task {args.name}: nothing to repair")
    return 0


def cmd_demo(_core: Core | None, args: argparse.Namespace) -> int:
    from ctask_ls.demo.run import run_demo

    return run_demo(keep=args.keep, seconds=args.seconds)


# -- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctask",
        description="Run coding agents in persistent tmux sessions, with leases, adoption and diffs.",
        epilog="Exit status: 0 success, 1 error, 2 bad usage.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, helptext: str, func: t.Callable[..., int], *, json_flag: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.set_defaults(func=func)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print JSON for scripts")
        return p

    p = add("new", "create a task and launch its agent (arguments after -- go to the agent)", cmd_new)
    p.add_argument("name")
    p.add_argument("--agent", metavar="CMD", help="agent command (a name on PATH or a path)")
    p.add_argument("--description", "-m", help="one line saying what the task is")
    p.add_argument("--detach", "-d", action="store_true", help="launch and return; the session runs unowned")
    p.add_argument("--repo", metavar="PATH", help="give the task a git worktree of this repository")
    p.add_argument("--branch", metavar="BRANCH", help="the worktree's new branch (default ctask/NAME; needs --repo)")
    p.add_argument("--base", metavar="REF", help="start the branch from this ref (default the repo's HEAD)")
    for name, helptext, func in (
        ("resume", "attach to, adopt or relaunch a task's session", cmd_resume),
        ("open", "open a shell session in the task's workspace", cmd_open),
    ):
        p = add(name, helptext, func)
        p.add_argument("name")
        if name == "resume":
            p.add_argument("--agent", metavar="CMD", help="one-shot agent command override")
        p.add_argument("--detach", "-d", action="store_true", help="launch and return; the session runs unowned")
        p.add_argument("--yes", "-y", action="store_true", help="adopt a session held by another host")
    p = add("last", "resume the task updated most recently", cmd_last)
    p.add_argument("--agent", metavar="CMD", help="one-shot agent command override")
    p.add_argument("--detach", "-d", action="store_true", help="launch and return")
    p.add_argument("--yes", "-y", action="store_true", help="adopt a session held by another host")
    p = add("attach", "attach to a running session (adopting it if its owner died)", cmd_attach)
    p.add_argument("name")
    p.add_argument("--yes", "-y", action="store_true", help="adopt a session held by another host")
    add("list", "list every task with its lease state", cmd_list)
    p = add("status", "show one task's lease, tmux session and last summary", cmd_status)
    p.add_argument("name")
    p.add_argument(
        "--show-env", action="store_true", help="show the values of the agent's environment (by default its names only)"
    )
    for name, helptext, func in (
        ("stop", "stop a task's running session (its owner records it)", cmd_stop),
        ("diff", "show what the agent changed (live while running)", cmd_diff),
        ("repair", "move corrupt task.yaml/lease.yaml aside and write a fresh task.yaml", cmd_repair),
    ):
        p = add(name, helptext, func)
        p.add_argument("name")
    p = add("log", "show a task's session history", cmd_log)
    p.add_argument("name")
    p.add_argument("--limit", "-n", type=int, help="show only the last N sessions")
    p = add("rm", "remove a task's workspace", cmd_rm)
    p.add_argument("name")
    p.add_argument(
        "--force", "-f", action="store_true", help="also when leased, running, or its worktree has unmerged work"
    )
    p.add_argument("--delete-branch", action="store_true", help="also delete a repo task's branch")
    p = add("demo", "run a scripted agent in a private home and show what ctask records", cmd_demo, json_flag=False)
    p.add_argument("--keep", action="store_true", help="keep the demo's private home and print its path")
    p.add_argument("--seconds", type=float, default=6.0, help="how long the scripted agent works (default 6)")
    return parser


def main(argv: t.Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    agent_args: list[str] | None = None
    if "--" in argv:
        cut = argv.index("--")
        argv, agent_args = argv[:cut], argv[cut + 1 :]
    parser = build_parser()
    args = parser.parse_args(argv)
    if agent_args is not None and args.command != "new":
        parser.error("arguments after -- are only accepted by `ctask new`")
    args.agent_args = agent_args
    try:
        if args.command == "demo":
            return int(args.func(None, args))
        core = Core(load_config(), owner="cli", say=_say)
        return int(args.func(core, args))
    except CtaskError as exc:
        _err(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        _err("error: interrupted")
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
