"""Review in a real headless Neovim (SPEC 3.13): :Ctask diffthis against a checkpoint, :Ctask revert."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from tests.helpers import Env
    from tests.nvim.conftest import Nvim


def test_diffthis_shows_the_sessions_start_and_revert_puts_a_file_back(nvim: Nvim, env: Env, agent: list[str]) -> None:
    env.write_config({"agent": {"command": agent[0], "args": [agent[1], "wait=go"]}})
    env.bare_task("t1")
    env.tree("t1").mkdir(exist_ok=True)
    (env.tree("t1") / "a.txt").write_text("one\ntwo\nthree\n")  # in the start checkpoint
    (env.tree("t1") / "c.txt").write_text("gone soon\n")  # deleted during the session
    run = nvim.run("review.lua", timeout=90)
    assert run.returncode == 0, run.explain()
    res = run.result
    # <CR> on the quickfix list's entries: the file beside its checkpoint, both in diff mode; one split at a time.
    assert sorted(res["qf_entries"]) == ["a.txt modified", "b.txt added", "c.txt deleted", "go added"]
    checkpoint, now = res["qf_modified"]
    assert checkpoint["name"].startswith("checkpoint/1/") and checkpoint["lines"] == ["one", "two", "three"]
    assert now["name"].endswith("work/a.txt") and now["lines"] == ["one", "changed", "three"]
    assert checkpoint["diff"] and now["diff"]
    checkpoint, now = res["qf_deleted"]
    assert checkpoint["name"] == "checkpoint/1/c.txt" and checkpoint["lines"] == ["gone soon"]
    assert now["name"].endswith("work/c.txt") and now["lines"] == [""]
    assert checkpoint["diff"] and now["diff"]
    assert res["checkpoint_buffer"].startswith("ctask://t1/checkpoint/")
    assert res["checkpoint_buffer"].endswith("/a.txt")
    assert res["checkpoint_lines"] == ["one", "two", "three"]
    assert res["checkpoint_readonly"] is True
    assert res["windows_in_diff"] == 2
    assert res["current_is_the_file"] is True
    assert sorted(res["added_sides"]) == [[""], ["new file"]]
    assert res["outside_error"].startswith("ctask: /etc/hostname is not in a task's tree")
    assert res["revert_question"] == "Put a.txt of task t1 back as it was at its session's start?"
    assert res["file_after_revert"] == ["one", "two", "three"]
    assert res["buffer_after_revert"] == ["one", "two", "three"]
    assert res["b_still_there"] is True
    assert "undo with :Ctask revert" in res["revert_note"]
    assert res["errors"] == 1  # the one for /etc/hostname
