"""``ctask --host HOST ...`` and ``ctask list --all-hosts`` (SPEC 10) against real sshd on simulated hosts.

Each host is a network namespace with its own address, sshd, ctask home and
tmux server (tests/remote/hosts.py); the client reaches them with the real
ssh client.  What is asserted is what the user sees: the lines on stdout
and stderr, the exit status, and what is (and is not) on each host's disk.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import pytest

from ctask_ls import __version__
from tests.helpers import Env, retry_until
from tests.remote.hosts import Network, SimHost, kill_netns

DETACHED = "task {name} runs detached in tmux session ctask-{name}\n  attach: ctask attach {name}\n"


def new_on(net: Network, host: str, name: str, *extra: str) -> None:
    """``ctask --host HOST new NAME --detach --agent bursty`` from the client; it must say the task runs."""
    proc = net.ctask("--host", host, "new", name, "--detach", "--agent", "bursty", *extra)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, DETACHED.format(name=name), "")


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def refused(host: SimHost) -> str:
    """What the user sees of a host that is down (nothing listens: the connection is refused)."""
    return (
        f"ctask: error: host {host.name} is unreachable (ssh: connect to host {host.address} port 22: "
        f"Connection refused); check that `ssh {host.name} true` works without a prompt"
    )


def test_a_command_runs_on_its_host_only(network: Network) -> None:
    host1, host2 = network.host("host1"), network.host("host2")
    description = 'it\'s $HOME; `touch /tmp/pwned` "quoted" & more'
    new_on(network, "host1", "t1", "-m", description, "--", "an argument", "$PATH", "*")
    assert host1.tasks() == ["t1"]
    assert host2.tasks() == []
    assert network.client.task_names() == []
    # Every argument reached the remote ctask as typed: the remote shell interpreted none of them.
    assert host1.env.task_yaml("t1")["description"] == description
    assert host1.env.task_yaml("t1")["agent"]["args"] == ["an argument", "$PATH", "*"]
    assert not Path("/tmp/pwned").exists()
    # The agent runs in host1's tmux server, started on host1 (its hostname), and nowhere else.
    assert retry_until(lambda: host1.env.tmux_alive("t1"))
    assert host2.env.tmux_sessions() == []
    pane_pid = host1.env.pane("t1")["pid"]  # type: ignore[index]
    assert os.readlink(f"/proc/{pane_pid}/ns/uts") == os.readlink(f"/proc/{host1.sshd.pid}/ns/uts")  # type: ignore[union-attr]
    status = json.loads(host1.run("status", "t1", "--json").stdout)
    assert status["tmux_alive"] is True and status["agent"]["command"] == "bursty"


def test_json_and_exit_status_come_back_unchanged(network: Network) -> None:
    host2 = network.host("host2")
    host2.env.write_config({"idle_after": 3600})  # its activity stays 'working' between the two looks
    new_on(network, "host2", "t2")
    through_ssh = network.ctask_bytes("--host", "host2", "list", "--json")
    on_host = host2.run_bytes("list", "--json")
    assert through_ssh.returncode == on_host.returncode == 0
    assert through_ssh.stdout == on_host.stdout  # byte for byte
    assert json.loads(through_ssh.stdout)[0]["name"] == "t2"
    assert through_ssh.stderr == b""
    # The remote's errors and exit statuses are the caller's.
    missing = network.ctask("--host", "host2", "status", "nope")
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", host2.run("status", "nope").stderr)
    assert "task 'nope' does not exist" in missing.stderr
    waited = network.ctask("--host", "host2", "wait", "t2", "--for", "idle", "--timeout", "0.2")
    assert waited.returncode == 4 and waited.stdout.startswith("task t2: not idle after 0.2s (now working ")
    # Usage errors are caught here, before any ssh.
    bad = network.ctask("--host", "host2", "wait", "t2")
    assert bad.returncode == 2 and "the following arguments are required: --for" in bad.stderr
    # The connection was shared (ssh ControlMaster), its socket in a private directory.
    control = Path(network.client.vars["XDG_RUNTIME_DIR"]) / "ctask-ssh"
    assert control.stat().st_mode & 0o777 == 0o700
    assert any(p.is_socket() for p in control.iterdir())


def test_all_hosts_lists_every_host_and_names_the_ones_that_do_not_answer(
    make_network: t.Callable[..., Network],
) -> None:
    net = make_network(3)
    host1, host2, host3 = (net.host(f"host{i}") for i in (1, 2, 3))
    new_on(net, "host1", "t1")
    new_on(net, "host2", "t2")
    local = net.ctask("new", "t0", "--detach", "--agent", "bursty")
    assert local.returncode == 0, local.stderr

    listed = net.ctask("list", "--all-hosts")
    assert listed.returncode == 0 and listed.stderr == ""
    rows = lines(listed.stdout)
    assert rows[0].split() == ["HOST", "TASK", "LEASE", "TMUX", "ACTIVITY", "UPDATED", "LAST", "SESSION"]
    assert [r.split()[:4] for r in rows[1:]] == [
        ["local", "t0", "missing", "running"],
        ["host1", "t1", "missing", "running"],
        ["host2", "t2", "missing", "running"],
    ]
    data = json.loads(net.ctask("list", "--all-hosts", "--json").stdout)
    assert [(t["host"], t["name"]) for t in data["tasks"]] == [("local", "t0"), ("host1", "t1"), ("host2", "t2")]
    assert data["unreachable"] == []

    # host2 dies in the middle: the others are still listed, host2 is named in one line, nothing of it guessed.
    host2.kill()
    listed = net.ctask("list", "--all-hosts")
    assert listed.returncode == 3
    assert [r.split()[:2] for r in lines(listed.stdout)[1:]] == [["local", "t0"], ["host1", "t1"]]
    assert lines(listed.stderr) == [refused(host2)]
    # host3 stops answering (its link is down): named after the timeout, and the list does not wait longer.
    host3.unplug()
    start = time.monotonic()
    data = json.loads((got := net.ctask("list", "--all-hosts", "--json", "--timeout", "1.5")).stdout)
    elapsed = time.monotonic() - start
    assert got.returncode == 3
    assert elapsed < 1.5 + 4.0, elapsed  # the timeout plus two interpreter starts on a loaded machine
    assert [(t["host"], t["name"]) for t in data["tasks"]] == [("local", "t0"), ("host1", "t1")]
    assert [u["host"] for u in data["unreachable"]] == ["host2", "host3"]
    assert data["unreachable"][1]["error"] == "host host3 did not answer within 1.5s; is it up?"
    assert len(lines(got.stderr)) == 2
    # Nothing changed on the hosts that answered.
    assert host1.env.tmux_alive("t1") and host1.env.lease("t1") is None


def _fake_ctask(directory: Path, name: str, patch: str) -> str:
    """A ctask of another release: this one's code with ``patch`` applied first (a path for ``command:``)."""
    path = directory / name
    path.write_text(
        f"#!/bin/sh\nexec {sys.executable} -c "
        f'"import sys; import ctask_ls.cli_remote as r; {patch}; import ctask_ls.cli as c; sys.exit(c.main())" '
        '"$@"\n'
    )
    path.chmod(0o755)
    return str(path)


def test_a_host_without_a_usable_ctask_is_one_line_saying_what_to_do(
    make_network: t.Callable[..., Network], tmp_path: Path
) -> None:
    net = make_network(2)
    older = _fake_ctask(tmp_path, "ctask-older", "r.answer_handshake = lambda argv: argv")  # before --remote-protocol
    newer = _fake_ctask(tmp_path, "ctask-newer", "r.REMOTE_PROTOCOL = 2")
    net.set_hosts(
        [
            {"name": "host1"},
            {"name": "host2"},
            {"name": "bare", "ssh": "host1", "command": "no-such-ctask"},
            {"name": "older", "ssh": "host1", "command": older},
            {"name": "newer", "ssh": "host1", "command": newer},
        ]
    )
    new_on(net, "host1", "t1")
    expected = {
        "bare": "ctask: error: host bare has no ctask to run (`no-such-ctask`: bash: line 1: no-such-ctask: command "
        f"not found); install ctask {__version__} there, or set the path of its ctask as `command:` of host bare "
        "in config.yaml",
        "older": f"ctask: error: host older: `{older}` did not answer as ctask {__version__} does (status 2: "
        "ctask: error: argument COMMAND: invalid choice: '1' (choose from 'new', 'resume', 'open', 'last', "
        "'attach', 'list', 'profiles', 'status', 'stop', 'repair', 'checkpoints', 'diff', 'checkpoint', 'revert', "
        f"'wait', 'log', 'rm', 'demo')); it is older or not ctask: install ctask {__version__} there",
        "newer": f"ctask: error: host newer runs ctask {__version__} (remote protocol 2), this machine ctask "
        f"{__version__} (remote protocol 1): install the same ctask version on both",
    }
    for name, line in expected.items():
        got = net.ctask("--host", name, "list", "--json")
        assert (got.returncode, got.stdout, lines(got.stderr)) == (1, "", [line]), name
    # The same host through its real ctask works, and nothing was done there by the failed calls.
    assert [t["name"] for t in json.loads(net.ctask("--host", "host1", "list", "--json").stdout)] == ["t1"]

    host2 = net.host("host2")
    host2.kill()
    got = net.ctask("--host", "host2", "status", "t1")
    assert (got.returncode, got.stdout) == (1, "")
    assert lines(got.stderr) == [refused(host2)]
    got = net.ctask("--host", "elsewhere", "list")
    assert (got.returncode, lines(got.stderr)) == (
        1,
        [
            (
                "ctask: error: host 'elsewhere' is not in hosts: of config.yaml (configured: host1, host2, bare, "
                "older, newer); add it, e.g. hosts: [{name: elsewhere, ssh: user@machine}]"
            )
        ],
    )
    # All at once: host1's task listed, each other host one line, in the configured order.
    listed = net.ctask("list", "--all-hosts")
    assert listed.returncode == 3
    assert [r.split()[:2] for r in lines(listed.stdout)[1:]] == [["host1", "t1"]]
    assert [ln.split()[3].rstrip(":") for ln in lines(listed.stderr)] == ["host2", "bare", "older", "newer"]


def _terminal(env: dict[str, str], command: str) -> tuple[t.Callable[..., str], t.Callable[..., None], Path]:
    """A private tmux server as the user's terminal, running ``command`` in its one pane (100x30)."""
    sock_dir = Path(tempfile.mkdtemp(prefix="ctt", dir="/tmp"))
    sock = str(sock_dir / "term.sock")
    base = ["tmux", "-f", "/dev/null", "-S", sock]
    subprocess.run(
        [*base, "new-session", "-d", "-x", "100", "-y", "30", "-s", "term", command],
        env={**env, "TERM": "screen"},
        check=True,
        stdin=subprocess.DEVNULL,
    )

    def screen() -> str:
        return subprocess.run(
            [*base, "capture-pane", "-p", "-t", "term"], capture_output=True, text=True, check=False
        ).stdout

    def keys(*k: str) -> None:
        subprocess.run([*base, "send-keys", "-t", "term", *k], check=True)

    return screen, keys, sock_dir


def test_attach_through_ssh_passes_the_terminal_through(network: Network) -> None:
    host1 = network.host("host1")
    new_on(network, "host1", "t1")
    argv = " ".join([*network.prefix(), sys.executable, "-m", "ctask_ls.cli", "--host", "host1", "attach", "t1"])
    screen, keys, sock_dir = _terminal(network.client.vars, f'{argv}; echo "EXIT=$?"; sleep 60')
    try:
        assert retry_until(lambda: "bursty agent ready" in screen(), 20)  # the agent's screen, from host1's tmux
        keys("burst 0.3", "Enter")  # typing reaches the agent
        assert retry_until(lambda: "done" in screen(), 20)
        assert retry_until(lambda: (host1.env.lease("t1") or {}).get("host") == "host1")  # owned on host1
        keys("C-b", "d")  # detach from host1's tmux
        assert retry_until(lambda: "detached; ctask keeps owning task t1" in screen(), 20)
        keys("C-c")  # and let go: the session runs on, unowned
        assert retry_until(lambda: "EXIT=0" in screen(), 20)
        assert "released task t1; its session keeps running" in screen()
        assert host1.env.tmux_alive("t1") and host1.env.lease("t1") is None
    finally:
        subprocess.run(["tmux", "-S", str(sock_dir / "term.sock"), "kill-server"], check=False, capture_output=True)
        shutil.rmtree(sock_dir, ignore_errors=True)


def test_a_dropped_connection_changes_nothing_on_the_host(network: Network) -> None:
    """The machine you attached from goes away mid-session: host1's ctask lets the session go (as at Ctrl-C),
    the agent runs on, and the next connection shows it again."""
    host1 = network.host("host1")
    new_on(network, "host1", "t1")
    argv = " ".join([*network.prefix(), sys.executable, "-m", "ctask_ls.cli", "--host", "host1", "attach", "t1"])
    screen, _keys, sock_dir = _terminal(network.client.vars, f'{argv}; echo "EXIT=$?"; sleep 60')
    try:
        assert retry_until(lambda: "bursty agent ready" in screen(), 20)
        owner = retry_until(lambda: (host1.env.lease("t1") or {}).get("pid"))
        kill_netns(network.ns)  # the client's ssh connections and its ctask, all at once
        assert retry_until(lambda: host1.env.lease("t1") is None, 20)  # host1's owner let go ...
        assert retry_until(lambda: not Path(f"/proc/{owner}").exists())  # ... and ended
        events = host1.env.events("t1")
        assert events[-1]["event"] == "lease_released", events[-1]
        assert host1.env.tmux_alive("t1")  # the agent runs on
        assert host1.env.sessions("t1") == []  # and no session was recorded as ended
    finally:
        subprocess.run(["tmux", "-S", str(sock_dir / "term.sock"), "kill-server"], check=False, capture_output=True)
        shutil.rmtree(sock_dir, ignore_errors=True)
    again = json.loads(network.ctask("--host", "host1", "list", "--json").stdout)
    assert [(t["name"], t["tmux_alive"], t["lease"]["state"]) for t in again] == [("t1", True, "missing")]


@pytest.mark.parametrize(
    ("hosts", "problem"),
    [
        ("box", "hosts must be a list of {name, ssh, command} mappings (or host names)"),
        (
            [{"ssh": "me@box"}],
            "hosts[1].name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        ),
        (
            [{"name": "local"}],
            "hosts[1] (local): 'local' is this machine in `ctask list --all-hosts`; name it otherwise",
        ),
        (
            ["box", {"name": "box", "ssh": "me@box"}],
            "hosts[2] (box): a second host named 'box'; host names must differ",
        ),
        (
            [{"name": "box", "ssh": "-oProxyCommand=sh"}],
            (
                "hosts[1] (box).ssh must be an ssh destination (user@machine or a Host of ~/.ssh/config), "
                "without blanks and not starting with '-'"
            ),
        ),
        (
            [{"name": "box", "command": "ctask\nrm -rf ~"}],
            "hosts[1] (box).command must be a non-empty string on one line",
        ),
        ([{"name": "box", "port": 22}], "hosts[1]: unknown key 'port' (known: name, ssh, command)"),
        ([7], "hosts[1] must be a mapping {name, ssh, command} or a host name"),
    ],
)
def test_a_bad_hosts_entry_is_refused_in_one_line(env: Env, hosts: object, problem: str) -> None:
    env.write_config({"hosts": hosts})
    for args in (("list",), ("--host", "box", "list"), ("list", "--all-hosts")):
        got = env.run(*args)
        assert (got.returncode, got.stdout) == (1, ""), args
        assert lines(got.stderr) == [
            f"ctask: error: config {env.config_path}: {problem}; fix the file or remove the key"
        ]


def test_host_options_are_checked_before_anything_runs(env: Env) -> None:
    env.write_config({"hosts": ["box"]})
    got = env.run("--host", "box", "list", "--all-hosts")
    assert got.returncode == 2 and lines(got.stderr)[-1].endswith(
        "--all-hosts lists every host already; leave out --host"
    )
    got = env.run("--version")
    assert (got.returncode, got.stdout) == (0, f"ctask {__version__} (remote protocol 1)\n")
    # No hosts configured: --all-hosts lists this machine and says why there is nothing else.
    env.write_config({})
    got = env.run("list", "--all-hosts")
    assert got.returncode == 0
    assert lines(got.stderr) == ["[ctask] no hosts under hosts: in config.yaml; listing this machine only"]
