"""Review through the server (SPEC 3.13): live diffs name their checkpoint; ``ctask.checkpoints``,
``ctask.fileAt`` and ``ctask.revert`` give editors real side-by-side diffs and an undo.

The agent waits on a flag outside its tree; the test changes the tree as an agent would.
"""

from __future__ import annotations

import asyncio
import sys
import typing as t

from ctask_ls.server import protocol as p
from tests.helpers import retry_until
from tests.server.conftest import new_args
from tests.test_activity import type_line

if t.TYPE_CHECKING:
    from tests.helpers import Env
    from tests.server.conftest import Session, Start


async def end_session(s: Session, env: Env) -> t.Any:
    mark = s.mark()
    go = env.root / "go"
    go.write_text("")
    ended = await s.wait_for(p.SESSION_ENDED, name="t1", since=mark, timeout=15)
    go.unlink()
    return ended


async def test_checkpoints_file_at_and_revert(lsp: Start, env: Env, agent_py: str) -> None:
    s = await lsp()
    await s.command(p.NEW, new_args("t1", agent_py, f"wait={env.root / 'go'}"))
    tree = env.tree("t1")
    (tree / "a.txt").write_text("first\n")
    (tree / "bin.dat").write_bytes(b"\0\1\2")
    await end_session(s, env)

    await s.command(p.RESUME, {"name": "t1"})
    cps = await s.command(p.CHECKPOINTS, {"name": "t1"})
    start = cps[-1]
    assert [c["source"] for c in cps] == ["start", "end", "start"]
    mark = s.mark()
    (tree / "a.txt").write_text("second\n")
    (tree / "b.txt").write_text("new\n")
    live = await s.wait_for(p.DIFF_NOTIFICATION, lambda n: not n["final"], name="t1", since=mark, timeout=10)
    assert live.params["checkpoint"] == start["n"]

    got = await s.command(p.FILE_AT, {"name": "t1", "path": "a.txt"})
    assert got["content"] == "first\n" and got["checkpoint"]["n"] == start["n"]
    assert (tree / "a.txt").read_text() == "second\n"
    # The other side, as the tree is now (what an editor on another machine shows on the right).
    now = await s.command(p.FILE_AT, {"name": "t1", "path": "b.txt", "current": True})
    assert now == {"name": "t1", "path": "b.txt", "checkpoint": None, "content": "new\n"}
    secret = env.home / "secret.txt"
    secret.write_text("private\n")
    (tree / "key").symlink_to(secret)
    (tree / "home").symlink_to(env.home)
    linked = await s.command(p.FILE_AT, {"name": "t1", "path": "key", "current": True})
    assert linked["content"] == str(secret)  # the link's target, never the user's file
    cases: list[tuple[dict[str, t.Any], str]] = [
        ({"path": "bin.dat"}, "is a binary file"),
        ({"path": "b.txt"}, "has no file b.txt"),
        ({"path": "../x"}, "is not a path inside task t1's tree"),
        ({"path": "a.txt", "checkpoint": "42"}, "is not one of its checkpoints"),
        ({"path": "home/secret.txt", "current": True}, "home on its way is a symbolic link"),
        ({"path": "bin.dat", "current": True}, "bin.dat of task t1 is a binary file"),
        ({"path": "gone.txt", "current": True}, "task t1 has no file gone.txt now"),
        ({"path": "../x", "current": True}, "is not a path inside task t1's tree"),
        ({"path": "a.txt", "current": True, "checkpoint": "1"}, "`checkpoint` or `current`, not both"),
    ]
    for args, said in cases:
        error = await s.error(p.FILE_AT, {"name": "t1", **args})
        assert error.kind == "InvalidArgument" and said in error.message, (args, error.message)

    error = await s.error(p.REVERT, {"name": "t1"})
    assert error.kind == "TaskBusy" and "stop it first" in error.message
    mark = s.mark()
    await end_session(s, env)
    final = await s.wait_for(p.DIFF_NOTIFICATION, lambda n: n["final"], name="t1", since=mark, timeout=15)
    assert final.params["checkpoint"] == start["n"]

    done = await s.command(p.REVERT, {"name": "t1"})
    assert done["to"]["n"] == start["n"] and done["restored"] == ["a.txt"]
    assert sorted(done["deleted"]) == ["b.txt", "home", "key"]
    assert (tree / "a.txt").read_text() == "first\n" and not (tree / "b.txt").exists()
    undo = await s.command(p.REVERT, {"name": "t1", "to": str(done["before"]["n"]), "paths": ["b.txt"]})
    assert undo["restored"] == ["b.txt"] and (tree / "a.txt").read_text() == "first\n"
    listed = await s.command(p.CHECKPOINTS, {"name": "t1"})
    assert [c["source"] for c in listed][-3:] == ["end", "revert", "revert"]


async def test_an_adopted_sessions_diffs_name_its_start_checkpoint(lsp: Start, env: Env, agent_py: str) -> None:
    """A session launched by the CLI and adopted by the server: the live and final diffs the server pushes name the
    launch's start checkpoint, so an editor's diff of a changed file has its left side (they named none)."""
    go = env.root / "go"
    s = await lsp(client="neovim")
    mark = s.mark()
    made = await asyncio.to_thread(
        env.run, "new", "d1", "--detach", "--agent", sys.executable, "--", agent_py, f"wait={go}"
    )
    assert made.returncode == 0, made.stderr
    await s.lease("d1", lambda x: x["owned_here"], since=mark)
    start = (await s.command(p.CHECKPOINTS, {"name": "d1"}))[-1]
    assert start["source"] == "start"
    mark = s.mark()
    (env.tree("d1") / "notes.txt").write_text("written\n")
    live = await s.wait_for(p.DIFF_NOTIFICATION, lambda n: not n["final"], name="d1", since=mark, timeout=10)
    assert live.params["added"] == ["notes.txt"] and live.params["checkpoint"] == start["n"], live.params
    mark = s.mark()
    go.write_text("")
    final = await s.wait_for(p.DIFF_NOTIFICATION, lambda n: n["final"], name="d1", since=mark, timeout=15)
    assert final.params["checkpoint"] == start["n"], final.params


async def test_each_turn_of_a_server_owned_claude_ends_in_a_checkpoint(lsp: Start, agents: Env) -> None:
    """Claude Code's hooks (the test ``claude``) through a server-owned session: its ``Stop`` ends a turn and the
    server takes a turn checkpoint; two turns in quick succession are two (a hook's ``idle`` anew ends a turn even
    when the server's look never saw the ``working`` between)."""
    env = agents
    s = await lsp()
    await s.command(p.NEW, {"name": "t1", "agent": "claude"})
    await s.wait_for(p.ACTIVITY, lambda n: (n.get("activity") or {}).get("state") == "idle", name="t1", timeout=15)
    tree = env.tree("t1")

    def turns() -> list[dict[str, t.Any]]:
        return [c for c in env.json("checkpoints", "t1") if c["source"] == "turn"]

    for n in (1, 2):
        (tree / f"turn{n}.txt").write_text(f"{n}\n")
        type_line(env, "t1", f"prompt {n}")
        type_line(env, "t1", "approve")  # PostToolUse, Stop: the turn is over
        got = retry_until(lambda n=n: turns() if len(turns()) == n else None, 20)  # type: ignore[misc]
        assert got[-1]["counts"] == {"added": 1, "modified": 0, "deleted": 0}, got  # since the checkpoint before
    got = await s.command(p.FILE_AT, {"name": "t1", "path": "turn2.txt", "checkpoint": str(turns()[-1]["n"])})
    assert got["content"] == "2\n"
    type_line(env, "t1", "quit")
    ended = await s.wait_for(p.SESSION_ENDED, name="t1", timeout=15)
    assert ended.params["summary"]["end_reason"] == "agent_exited"
    assert [c["source"] for c in env.json("checkpoints", "t1")] == ["start", "turn", "turn", "end"]
