from __future__ import annotations

from tests.helpers import Env


def test_new_records_files_the_agent_wrote(env: Env, agent: list[str]) -> None:
    proc = env.run("new", "t1", "--agent", agent[0], "--", agent[1], "write=a.txt:hello", "sleep=0.5")
    assert proc.returncode == 0, proc.stderr
    assert "+ a.txt" in proc.stdout
    summary = env.summary("t1")
    assert summary is not None
    assert summary["added"] == ["a.txt"]
    assert summary["end_reason"] == "agent_exited"
    assert summary["session_ownership"] == "owned"
    assert env.lease("t1") is None
    assert env.tmux_sessions() == []
