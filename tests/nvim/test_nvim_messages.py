"""The server's errors in Neovim's terms: `:Ctask` hints instead of shell ones (lua/ctask/messages.lua).

The messages are the server's own (ctask_ls/core, as it words them for every
front door); each must come out with a `:Ctask` command where the server
names a `ctask` command or option, and never with `--force` or "`ctask ...`".
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from tests.nvim.conftest import Nvim

OWN = {"host": "vm", "pid": 4711}

# (server message, data, context) -> what Neovim shows.
CASES: list[tuple[str, dict[str, str], dict[str, t.Any], str]] = [
    (
        "task t1 is in use by vm pid 4711; stop it first or pass --force",
        {"kind": "TaskBusy"},
        {"sub": "remove", "name": "t1", "own": OWN},
        (
            "task t1 is in use by this Neovim's ctask-ls (vm pid 4711); "
            "stop it first with :Ctask stop t1, or :Ctask remove! t1 removes it anyway"
        ),
    ),
    (
        "task t1 is in use by vm pid 99; stop it first or pass --force",
        {"kind": "TaskBusy"},
        {"sub": "remove", "name": "t1", "own": OWN},
        "task t1 is in use by vm pid 99; stop it first with :Ctask stop t1, or :Ctask remove! t1 removes it anyway",
    ),
    (
        "task t1 has a running session; stop it with `ctask stop t1` or pass --force",
        {"kind": "TaskBusy"},
        {"sub": "remove", "name": "t1"},
        "task t1 has a running session; stop it first with :Ctask stop t1, or :Ctask remove! t1 removes it anyway",
    ),
    (
        (
            "task t1 is in use by vm pid 4711 since 2025-01-02T03:04:05Z; "
            "attach with `ctask attach t1` or stop it with `ctask stop t1`"
        ),
        {"kind": "TaskBusy"},
        {"sub": "new", "name": "t1", "own": OWN},
        (
            "task t1 is in use by this Neovim's ctask-ls (vm pid 4711) since 2025-01-02T03:04:05Z; "
            "attach with :Ctask attach t1 or stop it with :Ctask stop t1"
        ),
    ),
    (
        "task t1 has no running session; start one with ctask.resume (`ctask resume t1`)",
        {"kind": "NoSession"},
        {"sub": "attach", "name": "t1"},
        "task t1 has no running session; start one with :Ctask resume t1",
    ),
    (
        "the worktree /w/t1 has 2 uncommitted change(s); commit or discard them, or pass --force to remove it anyway",
        {"kind": "GitError", "reason": "dirty"},
        {"sub": "remove", "name": "t1"},
        (
            "the worktree /w/t1 has 2 uncommitted change(s); "
            "commit or discard them, or :Ctask remove! t1 removes it anyway"
        ),
    ),
    (
        (
            "branch 'ctask/t1' has 1 commit(s) that no other branch has; merge them, "
            "or pass --force (the branch and its commits are kept unless --delete-branch)"
        ),
        {"kind": "GitError", "reason": "unmerged"},
        {"sub": "remove", "name": "t1"},
        (
            "branch 'ctask/t1' has 1 commit(s) that no other branch has; merge them, or :Ctask remove! t1 removes "
            'the task (its branch and commits are kept unless you choose "Remove and delete branch")'
        ),
    ),
    (
        "the task's repository /r is gone; pass --force to remove the task and its worktree files",
        {"kind": "GitError", "reason": "repo_missing"},
        {"sub": "remove", "name": "t1"},
        "the task's repository /r is gone; :Ctask remove! t1 removes the task and its worktree files",
    ),
    (
        "git cannot read the worktree /w/t1 (fatal: bad); pass --force to remove it anyway",
        {"kind": "GitError", "reason": "failed"},
        {"sub": "remove", "name": "t1"},
        "git cannot read the worktree /w/t1 (fatal: bad); use :Ctask remove! t1 to remove it anyway",
    ),
    (
        "task t1's agent is running and may be writing these files; stop it first (`ctask stop t1`) or pass --force",
        {"kind": "TaskBusy", "reason": "agent_running"},
        {"sub": "revert", "name": "t1"},
        "task t1's agent is running and may be writing these files; stop it first (:Ctask stop t1)",
    ),
    (
        "branch 'ctask/t1' already exists in /r; pass --branch with a new name, or remove the task with `ctask rm t1`",
        {"kind": "GitError", "reason": "branch_exists"},
        {"sub": "new", "name": "t4"},
        "branch 'ctask/t1' already exists in /r; give branch= a new name, or remove the task with :Ctask remove t1",
    ),
    (
        "'a b' is not a valid git branch name; pass --branch NAME",
        {"kind": "GitError", "reason": "bad_branch"},
        {"sub": "new", "name": "t4"},
        "'a b' is not a valid git branch name; give branch=NAME",
    ),
    (
        "/r has no commits yet; commit something first, or pass --base REF",
        {"kind": "GitError", "reason": "bad_ref"},
        {"sub": "new", "name": "t4"},
        "/r has no commits yet; commit something first, or give base=REF",
    ),
    (
        "task 'nope' does not exist; create it with `ctask new nope`",
        {"kind": "TaskNotFound"},
        {"sub": "resume", "name": "nope"},
        "task 'nope' does not exist; create it with :Ctask new nope",
    ),
    (
        "task 't1' already exists; resume it with `ctask resume t1` or pick another name",
        {"kind": "TaskExists"},
        {"sub": "new", "name": "t1"},
        "task 't1' already exists; resume it with :Ctask resume t1 or pick another name",
    ),
    (
        "/h/tasks/t1/task.yaml is corrupt (missing); run `ctask repair t1`",
        {"kind": "CorruptMetadata"},
        {"sub": "status", "name": "t1"},
        "/h/tasks/t1/task.yaml is corrupt (missing); run :!ctask repair t1",
    ),
    (
        "task t1: the conversation is gone; start a new conversation with `ctask resume t1 --fresh`",
        {"kind": "LaunchFailed"},
        {"sub": "resume", "name": "t1"},
        "task t1: the conversation is gone; run :Ctask resume t1 again and accept a new conversation",
    ),
    (
        "agent command 'claude' not found on PATH; install it, or pass --agent with a program that exists",
        {"kind": "AgentNotFound"},
        {"sub": "new", "name": "t1"},
        "agent command 'claude' not found on PATH; install it, or give agent= a program that exists",
    ),
]

COMMANDS = {
    "resume t1": ":Ctask resume t1",
    "rm t1 --force": ":Ctask remove! t1",
    "stop t1": ":Ctask stop t1",
    "list": ":Ctask list",
    "repair t1": ":!ctask repair t1",
    "diff --patch t1": ":!ctask diff --patch t1",
}


def test_server_hints_become_ctask_commands(nvim: Nvim) -> None:
    cases = [{"error": {"message": m, "data": d}, "context": c} for m, d, c, _ in CASES]
    run = nvim.run("messages.lua", {"cases": cases, "commands": list(COMMANDS)})
    assert run.returncode == 0, run.explain()
    explained = run.result["explained"]
    for (message, _, _, want), got in zip(CASES, explained, strict=True):
        assert got == want, message
        assert "--" not in got and "`ctask" not in got and "pass " not in got, got
    assert dict(zip(COMMANDS, run.result["commands"], strict=True)) == COMMANDS
