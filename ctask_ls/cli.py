"""The ``ctask`` command line: a thin front door over the session core.

Exit status: 0 success, 1 a user-facing error (one ``ctask: error: ...`` line
on stderr that says what to do), 2 bad usage; ``ctask wait`` adds 3 (the
session ended first) and 4 (timeout); ``ctask list --all-hosts`` 3 (a host
did not answer).

:mod:`.cli_own` owns a launched session from the terminal (attach, wait,
release); :mod:`.cli_print` prints results for people; :mod:`.cli_remote`
runs commands on other hosts through ssh (``--host``, ``list --all-hosts``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import typing as t

from ctask_ls import __version__, cli_remote
from ctask_ls.cli_own import after_launch, resume
from ctask_ls.cli_print import (
    LIST_HEADER,
    activity_text,
    err,
    out,
    print_changes,
    print_checkpoints,
    print_json,
    print_log,
    print_status,
    print_status_line,
    print_summary,
    say,
)
from ctask_ls.core.api import (
    EXITED,
    IDLE,
    NEEDS_INPUT,
    Core,
    CtaskError,
    InvalidArgument,
    NewTask,
    TaskStatus,
    load_config,
)

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
    return after_launch(core, owned, args, adopted=False)


FRESH_HELP = "start a new conversation even after the tmux server went away (default: resume the agent's own)"


def cmd_resume(core: Core, args: argparse.Namespace) -> int:
    return resume(core, args.name, args)


def cmd_last(core: Core, args: argparse.Namespace) -> int:
    return resume(core, core.last_task(), args)


def cmd_open(core: Core, args: argparse.Namespace) -> int:
    return resume(core, args.name, args, shell=True)


def cmd_attach(core: Core, args: argparse.Namespace) -> int:
    return resume(core, args.name, args, launch_new=False)


def cmd_list(core: Core, args: argparse.Namespace) -> int:
    tasks = core.list_tasks()
    broken = [st for st in tasks if st.error is not None]
    if args.json:
        print_json([st.to_json() for st in tasks])
    elif not tasks:
        out("no tasks yet; create one with `ctask new NAME`")
    else:
        out(LIST_HEADER)
        now = time.time()
        for st in tasks:
            print_status_line(st, now)
    for st in broken:
        err(f"error: {st.error}")
    return 1 if broken else 0


def cmd_status(core: Core, args: argparse.Namespace) -> int:
    st = core.status(args.name)
    if st.error is not None:
        if args.json:
            print_json(st.to_json(show_env=args.show_env))
        raise st.error
    if args.json:
        print_json(st.to_json(show_env=args.show_env))
        return 0
    print_status(st, show_env=args.show_env)
    return 0


ENDED = "ended"
WAIT_FOR = (NEEDS_INPUT, IDLE, ENDED)
WAIT_POLL = 0.2
"""Seconds between two looks at the task while ``ctask wait`` waits (one tmux call and a few small reads)."""
WAIT_REACHED, WAIT_ENDED, WAIT_TIMEOUT = 0, 3, 4
WAIT_EPILOG = (
    "Exit status: 0 the task reached the state (at once if it is in it already); "
    "3 its session ended first (waiting for needs_input or idle); 4 --timeout passed; 1 error; 2 bad usage. "
    "ended means no session is left: the agent exited and its session was recorded (or none was running)."
)


def session_over(st: TaskStatus) -> bool:
    """No session left to wait for: none unrecorded (start manifest), no live pane, no owner or launch at work."""
    return not st.running and not st.tmux_alive and not st.lease.fresh


def wait_outcome(st: TaskStatus, target: str) -> int | None:
    """``ctask wait``'s exit status for this look at the task, None to keep waiting."""
    if target == ENDED:
        return WAIT_REACHED if session_over(st) else None
    if st.activity is not None and st.activity.state == target:
        return WAIT_REACHED
    if session_over(st) or (st.activity is not None and st.activity.state == EXITED):
        return WAIT_ENDED
    return None


def cmd_wait(core: Core, args: argparse.Namespace) -> int:
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    while True:
        st = core.status(args.name)  # reconciles: a detached session that ended gets recorded
        if st.error is not None:
            raise st.error
        code = wait_outcome(st, args.target)
        left = math.inf if deadline is None else deadline - time.monotonic()
        if code is None and left <= 0:
            code = WAIT_TIMEOUT
        if code is not None:
            break
        time.sleep(min(WAIT_POLL, left))
    outcome = {WAIT_REACHED: "reached", WAIT_ENDED: "ended", WAIT_TIMEOUT: "timeout"}[code]
    if args.json:
        activity = st.activity.to_json() if st.activity is not None else None
        print_json({"task": st.name, "for": args.target, "outcome": outcome, "activity": activity})
        return code
    now = f"now {activity_text(st.activity)}" if st.activity is not None else "no session"
    if code == WAIT_REACHED:
        out(f"task {st.name}: {ENDED + ', ' if args.target == ENDED else ''}{now}")
    elif code == WAIT_ENDED:
        out(f"task {st.name}: the session ended before it was {args.target}")
    else:
        out(f"task {st.name}: not {args.target} after {args.timeout:g}s ({now})")
    return code


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"not a number of seconds >= 0: {text!r}")
    return value


def cmd_stop(core: Core, args: argparse.Namespace) -> int:
    result = core.stop(args.name)
    if args.json:
        print_json(result.to_json())
        return 0
    if result.summary:
        print_summary(result.summary)
    elif result.stopped:
        out(f"stopped task {args.name}; its owner will record the session")
    else:
        out(f"task {args.name} had already ended; its owner is recording the session")
    return 0


def cmd_diff(core: Core, args: argparse.Namespace) -> int:
    if args.patch:
        text, base = core.patch(args.name, args.paths, args.since)
        if args.json:
            print_json({"task": args.name, "since": base.to_json(), "patch": text})
        else:
            say(f"task {args.name}: the tree now against checkpoint {base.n} ({base.source}, {base.at})")
            sys.stdout.write(text)
        return 0
    if args.paths or args.since:
        raise InvalidArgument("PATH and --since go with --patch (the content of the changes)")
    d = core.diff(args.name)
    if args.json:
        print_json(d)
        return 0
    where = "since the running session started" if d["live"] else "in the last session"
    out(f"changes of task {args.name} {where}:")
    print_changes(d)
    return 0


def cmd_checkpoint(core: Core, args: argparse.Namespace) -> int:
    cp = core.checkpoint(args.name, args.message)
    if args.json:
        print_json(cp.to_json())
        return 0
    c = cp.counts
    out(f"checkpoint {cp.n} of task {args.name}: +{c['added']} ~{c['modified']} -{c['deleted']} since the one before")
    return 0


def cmd_checkpoints(core: Core, args: argparse.Namespace) -> int:
    cps = core.checkpoints(args.name)
    if args.json:
        print_json([cp.to_json() for cp in cps])
        return 0
    if not cps:
        out(f"task {args.name} has no checkpoints yet; they are taken when a session starts")
        return 0
    print_checkpoints(cps)
    return 0


def cmd_revert(core: Core, args: argparse.Namespace) -> int:
    done = core.revert(args.name, to=args.to, paths=args.paths, force=args.force)
    if args.json:
        print_json(done)
        return 0
    to, before = done["to"], done["before"]
    out(
        f"task {args.name}: back to checkpoint {to['n']} ({to['source']}, {to['at']}): "
        f"{len(done['restored'])} restored, {len(done['deleted'])} deleted; "
        f"undo with `ctask revert {args.name} --to {before['n']}`"
    )
    return 0


def cmd_log(core: Core, args: argparse.Namespace) -> int:
    sessions, problems = core.log(args.name, args.limit)
    for problem in problems:
        say(f"warning: {problem}")
    if args.json:
        print_json(sessions)
        return 0
    if not sessions:
        out(f"task {args.name} has no finished sessions yet")
    print_log(sessions)
    return 0


def cmd_profiles(core: Core, args: argparse.Namespace) -> int:
    """The agent profiles (SPEC 3.11), built in and from config.yaml, with where each came from."""
    profiles = [p.to_json() for p in core.config.profiles]
    if args.json:
        print_json(profiles)
        return 0
    rows = [
        (
            p["name"],
            ", ".join(p["commands"]) or "-",
            p["hooks"],
            " ".join(p["resume"]) or "-",
            " ".join(p["args"]) or "-",
            p["source"],
        )
        for p in profiles
    ]
    header = ("PROFILE", "COMMANDS", "HOOKS", "RESUME", "ARGS", "FROM")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        out("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if core.config.profile:
        out(f"every task without its own profile: {core.config.profile} (config.yaml profile:)")
    return 0


def cmd_rm(core: Core, args: argparse.Namespace) -> int:
    result = core.remove(args.name, force=args.force, delete_branch=args.delete_branch)
    for warning in result["warnings"]:
        say(f"warning: {warning}")
    if args.json:
        print_json(result)
        return 0
    out(f"removed task {args.name} ({result['workspace']})")
    if "branch" in result:
        out(f"branch {result['branch']} {'deleted' if result['branch_deleted'] else 'kept'}")
    return 0


def cmd_repair(core: Core, args: argparse.Namespace) -> int:
    moved = core.repair(args.name)
    if args.json:
        print_json({"task": args.name, "moved": moved})
    elif moved:
        for path in moved:
            out(f"moved aside: {path}")
    else:
        out(f"task {args.name}: nothing to repair")
    return 0


def cmd_demo(_core: Core | None, args: argparse.Namespace) -> int:
    from ctask_ls.demo.run import run_demo

    return run_demo(keep=args.keep, seconds=args.seconds)


# -- parser ------------------------------------------------------------------------------------


COMMANDS = (
    "new",
    "resume",
    "open",
    "last",
    "attach",
    "list",
    "profiles",
    "status",
    "stop",
    "repair",
    "checkpoints",
    "diff",
    "checkpoint",
    "revert",
    "wait",
    "log",
    "rm",
    "demo",
)
"""Every command, in the order ``ctask --help`` lists them."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; ``command``: with only that command's own parser under it.

    A command's parser parses and reports its errors exactly as under the whole parser; building the other
    commands' (argparse makes a help formatter and a translation lookup for each argument) is ~5 ms of
    every start, so :func:`main` builds just the one named (:func:`command_named`).
    """
    parser = argparse.ArgumentParser(
        prog="ctask",
        description="Run coding agents in persistent tmux sessions, with leases, adoption and diffs.",
        epilog="Exit status: 0 success, 1 error, 2 bad usage (ctask wait, ctask list: see their --help). "
        "With --host, the host's ctask's exit status, or 1 when it could not be reached.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--version", action="version", version=f"ctask {__version__} (remote protocol {cli_remote.REMOTE_PROTOCOL})"
    )
    parser.add_argument(
        "--host",
        metavar="HOST",
        help="run the command on HOST (a name under hosts: in config.yaml) through ssh; "
        "the terminal is passed through for attach",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, helptext: str, func: t.Callable[..., int], *, json_flag: bool = True
    ) -> argparse.ArgumentParser | None:
        if name not in COMMANDS:
            raise AssertionError(f"command {name} is missing from COMMANDS")
        if command is not None and name != command:
            return None
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.set_defaults(func=func)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print JSON for scripts")
        return p

    if p := add("new", "create a task and launch its agent (arguments after -- go to the agent)", cmd_new):
        p.add_argument("name")
        p.add_argument("--agent", metavar="CMD", help="agent command (a name on PATH or a path)")
        p.add_argument("--description", "-m", help="one line saying what the task is")
        p.add_argument("--detach", "-d", action="store_true", help="launch and return; the session runs unowned")
        p.add_argument("--repo", metavar="PATH", help="give the task a git worktree of this repository")
        p.add_argument(
            "--branch", metavar="BRANCH", help="the worktree's new branch (default ctask/NAME; needs --repo)"
        )
        p.add_argument("--base", metavar="REF", help="start the branch from this ref (default the repo's HEAD)")
    for name, helptext, func in (
        ("resume", "attach to, adopt or relaunch a task's session", cmd_resume),
        ("open", "open a shell session in the task's workspace", cmd_open),
    ):
        if p := add(name, helptext, func):
            p.add_argument("name")
            if name == "resume":
                p.add_argument("--agent", metavar="CMD", help="one-shot agent command override")
                p.add_argument("--fresh", action="store_true", help=FRESH_HELP)
            p.add_argument("--detach", "-d", action="store_true", help="launch and return; the session runs unowned")
            p.add_argument("--yes", "-y", action="store_true", help="adopt a session held by another host")
    if p := add("last", "resume the task updated most recently", cmd_last):
        p.add_argument("--agent", metavar="CMD", help="one-shot agent command override")
        p.add_argument("--fresh", action="store_true", help=FRESH_HELP)
        p.add_argument("--detach", "-d", action="store_true", help="launch and return")
        p.add_argument("--yes", "-y", action="store_true", help="adopt a session held by another host")
    if p := add("attach", "attach to a running session (adopting it if its owner died)", cmd_attach):
        p.add_argument("name")
        p.add_argument("--yes", "-y", action="store_true", help="adopt a session held by another host")
    if p := add("list", "list every task with its lease state and activity", cmd_list):
        p.epilog = cli_remote.ALL_HOSTS_EPILOG
        p.add_argument(
            "--all-hosts", action="store_true", help="also every host under hosts: in config.yaml, with a HOST column"
        )
        p.add_argument(
            "--timeout",
            type=_seconds,
            default=cli_remote.DEFAULT_TIMEOUT,
            metavar="S",
            help=f"with --all-hosts: seconds to wait for the hosts (default {cli_remote.DEFAULT_TIMEOUT:g})",
        )
    add("profiles", "list the agent profiles (how each kind of agent is driven) and where each came from", cmd_profiles)
    if p := add("status", "show one task's lease, tmux session and last summary", cmd_status):
        p.add_argument("name")
        p.add_argument(
            "--show-env", action="store_true", help="show the values of the agent's environment (by default its names)"
        )
    for name, helptext, func in (
        ("stop", "stop a task's running session (its owner records it)", cmd_stop),
        ("repair", "move corrupt task.yaml/lease.yaml aside and write a fresh task.yaml", cmd_repair),
        ("checkpoints", "list a task's checkpoints of its agent's tree", cmd_checkpoints),
    ):
        if p := add(name, helptext, func):
            p.add_argument("name")
    if p := add("diff", "show what the agent changed (live while running); --patch: the content", cmd_diff):
        p.add_argument("name")
        p.add_argument("paths", nargs="*", metavar="PATH", help="only these files or directories (with --patch)")
        p.add_argument("--patch", "-p", action="store_true", help="unified diffs of the content")
        p.add_argument(
            "--since", metavar="CHECKPOINT", help="compare with this checkpoint (default: the session's start)"
        )
    if p := add("checkpoint", "take a checkpoint of a task's tree now", cmd_checkpoint):
        p.add_argument("name")
        p.add_argument("--message", "-m", metavar="TEXT", help="what it is for")
    if p := add(
        "revert", "restore a task's files to a checkpoint (one is taken first, so it can be undone)", cmd_revert
    ):
        p.add_argument("name")
        p.add_argument("paths", nargs="*", metavar="PATH", help="only these files or directories")
        p.add_argument(
            "--to", metavar="CHECKPOINT", help="the checkpoint (default: the start of the running or last session)"
        )
        p.add_argument("--force", action="store_true", help="also while the agent runs")
    if p := add("wait", "wait until a task's agent needs input, is idle, or its session ended", cmd_wait):
        p.epilog = WAIT_EPILOG
        p.add_argument("name")
        p.add_argument("--for", dest="target", required=True, choices=WAIT_FOR, help="the state to wait for")
        p.add_argument("--timeout", type=_seconds, metavar="S", help="give up after S seconds (exit status 4)")
    if p := add("log", "show a task's session history", cmd_log):
        p.add_argument("name")
        p.add_argument("--limit", "-n", type=int, help="show only the last N sessions")
    if p := add("rm", "remove a task's workspace", cmd_rm):
        p.add_argument("name")
        p.add_argument(
            "--force", "-f", action="store_true", help="also when leased, running, or its worktree has unmerged work"
        )
        p.add_argument("--delete-branch", action="store_true", help="also delete a repo task's branch")
    if p := add(
        "demo", "run a scripted agent in a private home and show what ctask records", cmd_demo, json_flag=False
    ):
        p.add_argument("--keep", action="store_true", help="keep the demo's private home and print its path")
        p.add_argument("--seconds", type=float, default=6.0, help="how long the scripted agent works (default 6)")
    return parser


def command_named(argv: t.Sequence[str]) -> str | None:
    """The command ``argv`` names when only ``--host`` comes before it (its parser alone parses the line as the
    whole one does); None for anything else (``-h``, ``--version``, no command or an unknown one, ...)."""
    value = False
    for arg in argv:
        if value:
            value = False
        elif arg == "--host":
            value = True
        elif not arg.startswith("--host="):
            return arg if arg in COMMANDS else None
    return None


def main(argv: t.Sequence[str] | None = None) -> int:
    answered = cli_remote.answer_handshake(list(sys.argv[1:] if argv is None else argv))
    if isinstance(answered, int):  # called by another machine's ctask of another protocol
        return answered
    argv = answered
    full_argv = list(argv)
    agent_args: list[str] | None = None
    if "--" in argv:
        cut = argv.index("--")
        argv, agent_args = argv[:cut], argv[cut + 1 :]
    parser = build_parser(command_named(argv))
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "paths") and not any(e.startswith("-") for e in extra):
        args.paths = [*args.paths, *extra]  # `diff NAME --patch PATH`: paths after an option too
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if agent_args is not None and args.command != "new":
        parser.error("arguments after -- are only accepted by `ctask new`")
    args.agent_args = agent_args
    if args.host is not None and args.command == "list" and args.all_hosts:
        parser.error("--all-hosts lists every host already; leave out --host")
    try:
        if args.host is not None:
            remote = cli_remote.remote_args(full_argv)
            return cli_remote.run_on_host(load_config(), args.host, remote, terminal=cli_remote.wants_terminal(args))
        if args.command == "demo":
            return int(args.func(None, args))
        if args.command == "list" and args.all_hosts:  # the hosts are asked before this machine is listed
            return cli_remote.list_all_hosts(load_config(), args, lambda config: Core(config, owner="cli", say=say))
        core = Core(load_config(), owner="cli", say=say)
        return int(args.func(core, args))
    except CtaskError as exc:
        err(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        err("error: interrupted")
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
