"""The ``ctask`` command line: a thin front door over the session core.

Exit status: 0 success, 1 a user-facing error (one ``ctask: error: ...`` line
on stderr that says what to do), 2 bad usage.

:mod:`.cli_own` owns a launched session from the terminal (attach, wait,
release); :mod:`.cli_print` prints results for people.
"""

from __future__ import annotations

import argparse
import sys
import typing as t

from ctask_ls.cli_own import after_launch, resume
from ctask_ls.cli_print import (
    err,
    out,
    print_changes,
    print_json,
    print_log,
    print_status,
    print_status_line,
    print_summary,
    say,
)
from ctask_ls.core.api import Core, CtaskError, NewTask, load_config

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
        out(f"{'TASK':<24} {'LEASE':<12} {'TMUX':<8} {'UPDATED':<21} LAST SESSION")
        for st in tasks:
            print_status_line(st)
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
    d = core.diff(args.name)
    if args.json:
        print_json(d)
        return 0
    where = "since the running session started" if d["live"] else "in the last session"
    out(f"changes of task {args.name} {where}:")
    print_changes(d)
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
        "--show-env", action="store_true", help="show the values of the agent's environment (by default its names)"
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
