"""``ctask demo``, the README's first command, end to end: a real tmux server, the scripted agent."""

from __future__ import annotations

from tests.helpers import Env


def test_demo_shows_the_whole_life_of_a_task_and_leaves_nothing_behind(env: Env) -> None:
    # The demo makes its own private home and tmux server under TMPDIR: the test's short socket dir.
    proc = env.run("demo", "--seconds", "2", env={"TMPDIR": str(env.sock_dir)}, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    out = proc.stdout
    assert "lease fresh_local owner cli pid" in out
    assert "agent exited; lease now missing, tmux session gone: True" in out
    assert "agent_exited (exit status 0)" in out and "baseline original" in out
    for line in ("added 2, modified 1, deleted 1", "+ NOTES.md", "+ src/greet.py", "~ README.txt", "- build.log"):
        assert line in out, line
    assert "1 session recorded in sessions.jsonl" in out
    assert out.rstrip().endswith("demo finished: nothing left running.")
    assert [p.name for p in env.sock_dir.iterdir() if p.name.startswith("ctask-demo-")] == []
