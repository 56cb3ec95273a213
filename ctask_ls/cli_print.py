"""How ``ctask`` shows results to people: summaries, diffs, git's view, status and log lines, messages.

``--json`` output is :func:`print_json`'s; everything else here is the
human-readable form of the same core objects, one line at a time through
:func:`out`.  Messages go to stderr: :func:`err` (``ctask: ...``, errors) and
:func:`say` (``[ctask] ...``, progress and warnings).

Text the agent controls (file names, commit subjects, screen lines quoted in
an error, anything read from a task's files) is printed through
:func:`~ctask_ls.core.api.terminal_safe` (SPEC 9): every line here and every
message has its control characters shown as escapes (``\x1b``, ``\n``),
so nothing the agent wrote can clear the screen, set the terminal's title or
forge a line of ctask's output.  ``--json`` output is JSON, which escapes
control characters itself.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
import typing as t

from ctask_ls.core.api import rfc3339, terminal_safe

if t.TYPE_CHECKING:
    from ctask_ls.core.api import Activity, Checkpoint, LeaseInfo, TaskStatus


def out(line: str) -> None:
    """One line of human-readable output on stdout, control characters escaped."""
    print(terminal_safe(line))


def err(msg: str) -> None:
    """An error on stderr, one line: ``ctask: MSG``."""
    print(f"ctask: {terminal_safe(msg)}", file=sys.stderr, flush=True)


def say(msg: str) -> None:
    """Progress or a warning on stderr, one line: ``[ctask] MSG``."""
    print(f"[ctask] {terminal_safe(msg)}", file=sys.stderr, flush=True)


def print_json(data: object) -> None:
    """Indented for a terminal; compact (and several times faster) for a pipe."""
    if sys.stdout.isatty():
        print(json.dumps(data, indent=2, default=str))
    else:
        print(json.dumps(data, separators=(",", ":"), default=str))


def out_fields(*fields: str) -> None:
    """One line of tab-separated fields (``git status``'s shape), control characters in each escaped."""
    print("\t".join(terminal_safe(f) for f in fields))


def lease_text(info: LeaseInfo) -> str:
    if info.lease is None:
        return info.state + (f" ({info.reason})" if info.reason else "")
    lease = info.lease
    text = f"{info.state} ({lease.owner} pid {lease.pid} on {lease.host}, heartbeat {info.age_s or 0:.0f}s ago)"
    if info.reason:
        text = f"{info.state} ({info.reason})"
    return text


def print_summary(summary: t.Mapping[str, t.Any]) -> None:
    status = f", exit status {summary['exit_status']}" if "exit_status" in summary else ""
    out(
        f"session {summary.get('session_id')} of task {summary.get('task')} ended: "
        f"{summary.get('end_reason')}{status} after {summary.get('duration_s')}s "
        f"({summary.get('session_ownership')}, baseline {summary.get('baseline')}, via {summary.get('detected_via')})"
    )
    print_changes(summary)


def print_changes(diff: t.Mapping[str, t.Any]) -> None:
    counts = diff.get("counts") or {}
    out(f"  added {counts.get('added', 0)}, modified {counts.get('modified', 0)}, deleted {counts.get('deleted', 0)}")
    for mark, key in (("+", "added"), ("~", "modified"), ("-", "deleted")):
        for path in diff.get(key) or []:
            out(f"  {mark} {path}")
    if isinstance(view := diff.get("git"), dict):
        print_git(view)


def print_git(view: t.Mapping[str, t.Any]) -> None:
    """Git's view of a repo task: commits since the base, then committed and uncommitted files."""
    base = str(view.get("base", ""))[:12]
    if "error" in view:
        out(f"  git: branch {view.get('branch')}, base {base}: {view['error']}")
        return
    head = str(view.get("head", ""))[:12]
    counts = view.get("counts") or {}
    out(f"  git: branch {view.get('branch')}, base {base}, head {head}")
    out(f"  commits since base: {counts.get('commits', 0)}")
    for c in view.get("commits") or []:
        out(f"    {str(c.get('sha', ''))[:12]} {c.get('subject', '')}")
    out(f"  committed (git diff --name-status base HEAD): {counts.get('committed', 0)}")
    for e in view.get("committed") or []:
        out_fields(f"    {e.get('status')}", str(e.get("path")))
    out(f"  uncommitted (git status): {counts.get('uncommitted', 0)}")
    for e in view.get("uncommitted") or []:
        out_fields(f"    {e.get('status')}", str(e.get("path")))


def age_text(seconds: float) -> str:
    """A short age: ``3s``, ``4m``, ``2h``, ``5d`` (whole units, rounded down)."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def activity_age(activity: Activity, now: float | None = None) -> str:
    """``working 3s``: the activity and how long it has been so (SPEC 3.10)."""
    now = time.time() if now is None else now
    return f"{activity.state} {age_text(now - activity.since.timestamp())}"


def activity_text(activity: Activity, now: float | None = None) -> str:
    """``needs_input 3s (since 2026-...Z, from hook): permission to use Bash``, the message escaped by :func:`out`."""
    text = f"{activity_age(activity, now)} (since {rfc3339(activity.since)}, from {activity.source})"
    return f"{text}: {activity.message}" if activity.message else text


LIST_HEADER = f"{'TASK':<24} {'LEASE':<12} {'TMUX':<8} {'ACTIVITY':<16} {'UPDATED':<21} LAST SESSION"


def print_status_line(st: TaskStatus, now: float | None = None) -> None:
    if st.error is not None:
        out(f"{st.name:<24} ERROR    {st.error}")
        return
    last = st.last_summary
    last_text = "-"
    if last is not None:
        c = last.get("counts") or {}
        last_text = f"{last.get('end_reason')} +{c.get('added', 0)} ~{c.get('modified', 0)} -{c.get('deleted', 0)}"
    updated = rfc3339(st.meta.updated_at) if st.meta else "-"
    tmux = "running" if st.tmux_alive else "-"
    activity = activity_age(st.activity, now) if st.activity is not None else "-"
    out(f"{st.name:<24} {st.lease.state:<12} {tmux:<8} {activity:<16} {updated:<21} {last_text}")


def host_list_header(width: int) -> str:
    """``ctask list --all-hosts``'s header: a HOST column ``width`` wide, then ``ctask list``'s."""
    return f"{'HOST':<{width}} {LIST_HEADER}"


def print_host_line(host: str, width: int, task: t.Mapping[str, t.Any], now: float) -> None:
    """One task of ``ctask list --all-hosts``, from its ``--json`` object (a remote host's as this one's):
    the host, then the columns :func:`print_status_line` prints."""
    name = str(task.get("name"))
    if task.get("error"):
        out(f"{host:<{width}} {name:<24} ERROR    {task['error']}")
        return
    lease = task.get("lease")
    lease_state = lease.get("state") if isinstance(lease, dict) else None
    last = task.get("last_summary")
    last_text = "-"
    if isinstance(last, dict):
        c = last.get("counts")
        c = c if isinstance(c, dict) else {}
        last_text = f"{last.get('end_reason')} +{c.get('added', 0)} ~{c.get('modified', 0)} -{c.get('deleted', 0)}"
    activity = "-"
    if isinstance(act := task.get("activity"), dict):
        try:
            since = dt.datetime.fromisoformat(str(act.get("since"))).timestamp()
            activity = f"{act.get('state')} {age_text(now - since)}"
        except ValueError:
            activity = str(act.get("state"))
    tmux = "running" if task.get("tmux_alive") else "-"
    updated = task.get("updated_at") or "-"
    out(f"{host:<{width}} {name:<24} {lease_state!s:<12} {tmux:<8} {activity:<16} {updated:<21} {last_text}")


def print_status(st: TaskStatus, *, show_env: bool = False) -> None:
    """``ctask status NAME``: one task, a field per line (the agent's environment by name unless ``show_env``)."""
    out(f"task:      {st.name}")
    out(f"workspace: {st.workspace}")
    out(f"lease:     {lease_text(st.lease)}")
    out(f"tmux:      {st.tmux_session} ({'running' if st.tmux_alive else 'not running'})")
    if st.activity is not None:
        out(f"activity:  {activity_text(st.activity)}")
    if st.conversation_id is not None:
        out(f"conversation: {st.conversation_id}")
    if st.meta is not None and st.meta.repo is not None:
        repo = st.meta.repo
        out(f"repo:      {repo.path} (branch {repo.branch} from {repo.base[:12]})")
        out(f"worktree:  {repo.worktree}")
    if st.meta is not None:
        agent = " ".join([st.meta.agent.command, *st.meta.agent.args])
        out(f"agent:     {agent}")
        for key, value in st.meta.agent.to_mapping(hide_env=not show_env)["env"].items():
            out(f"env:       {key}={value}")
        out(f"updated:   {rfc3339(st.meta.updated_at)}")
    if st.last_summary is not None:
        s = st.last_summary
        c = s.get("counts") or {}
        out(
            f"last:      {s.get('end_reason')} at {s.get('ended_at')} "
            f"(+{c.get('added', 0)} ~{c.get('modified', 0)} -{c.get('deleted', 0)})"
        )


def field(record: t.Mapping[str, t.Any], key: str) -> str:
    """A log record's field as text: a hand-edited record may lack it or hold any type."""
    value = record.get(key)
    return "-" if value is None else str(value)


def print_checkpoints(cps: t.Sequence[Checkpoint]) -> None:
    """``ctask checkpoints``: one line per checkpoint, oldest first."""
    rows = [
        (str(cp.n), cp.at, cp.source, *(str(cp.counts[k]) for k in ("added", "modified", "deleted")), cp.message or "")
        for cp in cps
    ]
    header = ("#", "TIME", "SOURCE", "ADDED", "MODIFIED", "DELETED", "MESSAGE")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
        out(f"{line}  {row[-1]}".rstrip())


def print_log(sessions: list[dict[str, t.Any]]) -> None:
    """``ctask log NAME``: one line per finished session, oldest first."""
    for s in sessions:
        c = s.get("counts")
        c = c if isinstance(c, dict) else {}
        ended, sid, reason, ownership, duration = (
            field(s, k) for k in ("ended_at", "session_id", "end_reason", "session_ownership", "duration_s")
        )
        out(
            f"{ended}  {sid}  {reason:<18} {ownership:<8} {duration}s  "
            f"+{c.get('added', 0)} ~{c.get('modified', 0)} -{c.get('deleted', 0)}"
        )
