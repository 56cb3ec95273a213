"""Simulated hosts for tests and benchmarks of ctask on more than one machine (SPEC 10): real OpenSSH, real ssh.

A :class:`Network` is a client and N hosts, each host a Linux network
namespace (and a UTS namespace, so ``hostname`` says ``host1``) with its own
address, running Debian's OpenSSH server (``sshd -D -f <its config>``) with a
host key made here; the client is one more network namespace, joined to each
host by a veth pair, that reaches them with the real ``ssh`` client through
an ssh config written here (``ssh -F FILE``: the hosts by name, the user key
made here, known hosts written here, ``StrictHostKeyChecking yes``,
``BatchMode yes``).  Only addresses inside those namespaces (10.231.N.1 and
10.231.N.2) and loopback are used: nothing is added to the machine's own
network, and no interface of the machine's is touched.

Every host shares this machine's filesystem and root user, so what makes it
a host of its own is its environment: each host's ``authorized_keys`` gives
the key ``environment="..."`` options (``PermitUserEnvironment`` allows just
those names) with the host's own ``HOME``, ``XDG_*``, ``CTASK_HOME``,
``CTASK_CONFIG``, ``CTASK_TMUX_SOCKET`` (its private tmux server) and a
``PATH`` with this venv's ``ctask`` and the test agents (tests/agents), as a
:class:`tests.helpers.Env` of its own holds them.  A command run over ssh on
host1 therefore sees host1's ctask home and tmux, and nothing of the real
user's home or tmux.  (``PermitUserRC no``, ``UsePAM no``; the ssh client
runs with ``-F``, so it neither reads nor creates the real ``~/.ssh``.)

:meth:`SimHost.kill` kills every process in a host's namespace (its sshd,
its ssh sessions, its tmux server and agents): the machine died.
:meth:`SimHost.unplug` takes its link down instead: the machine is there but
does not answer (connections time out).  :meth:`Network.close` ends every
process in every namespace, deletes the namespaces and the homes' tmux
servers, and never raises; namespaces left by a killed test run (their
creator's pid is in their name) are removed by the next run.

Needs root, ``ip`` (iproute2), ``nsenter``/``unshare`` (util-linux), and
``/usr/sbin/sshd``, ``ssh`` and ``ssh-keygen`` (Debian's openssh-server and
openssh-client; ``scripts/test-all`` installs them).  :func:`unavailable`
says why a machine cannot run it.  No pytest here: ``bench/`` uses it too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from tests.helpers import REPO, Env

SSHD = "/usr/sbin/sshd"
PREFIX = "ctr"
"""Namespace names: ``ctr<creator pid>x<n>c`` (the client) and ``...h<i>`` (host i)."""
HOST_VARS = "CTASK_*,HOME,PATH,XDG_*,LANG,PYTHONPATH,PYTHONDONTWRITEBYTECODE,FAKE_AGENT_*"
"""The variables a host's authorized_keys may set (sshd's PermitUserEnvironment pattern list)."""

_counter = 0


class Unavailable(RuntimeError):
    """This machine cannot simulate hosts (the message says why and what to install)."""


def _run(*argv: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(argv), capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def unavailable() -> str | None:
    """Why hosts cannot be simulated here (one line saying what is missing), or None."""
    if os.geteuid() != 0:
        return "simulated hosts need root (network namespaces and sshd)"
    for tool, package in (
        (SSHD, "openssh-server"),
        ("ssh", "openssh-client"),
        ("ssh-keygen", "openssh-client"),
        ("ip", "iproute2"),
        ("nsenter", "util-linux"),
        ("unshare", "util-linux"),
    ):
        if shutil.which(tool) is None:
            return f"{tool} is not installed: apt-get install {package} (scripts/test-all does)"
    probe = f"{PREFIX}{os.getpid()}xprobe"
    made = _run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace ({made.stderr.strip()}): run as root outside a restricted container"
    _run("ip", "netns", "del", probe, check=False)
    return None


def netns_pids(ns: str) -> list[int]:
    out = _run("ip", "netns", "pids", ns, check=False)
    return [int(p) for p in out.stdout.split() if p.isdigit()]


def kill_netns(ns: str) -> None:
    """SIGKILL every process in network namespace ``ns`` until none is left (a few rounds: forks in flight)."""
    for _ in range(50):
        pids = netns_pids(ns)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def remove_stale() -> None:
    """Namespaces of earlier runs whose creator is gone (a test run killed before its clean-up)."""
    with contextlib.suppress(OSError):
        for name in os.listdir("/run/netns"):
            if not name.startswith(PREFIX):
                continue
            pid = name[len(PREFIX) :].split("x", 1)[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                kill_netns(name)
                _run("ip", "netns", "del", name, check=False)


def _keygen(path: Path, comment: str) -> str:
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path))
    return path.with_suffix(".pub").read_text().strip()


def _quoted(value: str) -> str:
    """A value for an authorized_keys ``environment="NAME=VALUE"`` option."""
    if '"' in value or "\n" in value:
        raise ValueError(f"cannot pass {value!r} in authorized_keys")
    return value


class SimHost:
    """One simulated machine: a network and UTS namespace, its sshd, its own ctask home and tmux server."""

    def __init__(self, net: Network, index: int, agents_bin: Path) -> None:
        self.net = net
        self.name = f"host{index}"
        self.index = index
        self.ns = f"{net.tag}h{index}"
        self.address = f"10.231.{index}.2"
        self.client_address = f"10.231.{index}.1"
        self.dir = net.root / self.name
        self.env = Env(self.dir)
        """The host's own home, config and tmux socket (``env.vars`` is what its ssh sessions see)."""
        self.env.vars["PATH"] = f"{agents_bin}:{self.env.vars['PATH']}"
        self.env.vars["FAKE_AGENT_LOG"] = str(self.dir / "hooks.jsonl")
        self.env.vars["FAKE_AGENT_ARGV"] = str(self.dir / "argv.jsonl")
        self.sshd: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "sshd.log"

    # -- set-up ------------------------------------------------------------------------------

    def plumb(self) -> None:
        """The namespace, the veth pair to the client, the addresses."""
        _run("ip", "netns", "add", self.ns)
        self.net.namespaces.append(self.ns)
        _run("ip", "-n", self.ns, "link", "set", "lo", "up")
        peer = f"h{self.index}"
        _run("ip", "link", "add", "eth0", "netns", self.ns, "type", "veth", "peer", "name", peer, "netns", self.net.ns)
        _run("ip", "-n", self.ns, "addr", "add", f"{self.address}/24", "dev", "eth0")
        _run("ip", "-n", self.net.ns, "addr", "add", f"{self.client_address}/24", "dev", peer)
        _run("ip", "-n", self.ns, "link", "set", "eth0", "up")
        _run("ip", "-n", self.net.ns, "link", "set", peer, "up")

    def start_sshd(self, user_key: str) -> None:
        host_key = self.dir / "ssh_host_ed25519_key"
        pub = _keygen(host_key, self.name)
        self.net.known_hosts.append(f"{self.name} {' '.join(pub.split()[:2])}")
        options = ",".join(f'environment="{k}={_quoted(v)}"' for k, v in self.env.vars.items())
        keys = self.dir / "authorized_keys"
        keys.write_text(f"{options} {user_key}\n")
        keys.chmod(0o600)
        config = self.dir / "sshd_config"
        config.write_text(
            "\n".join(
                (
                    f"ListenAddress {self.address}",
                    "Port 22",
                    f"HostKey {host_key}",
                    "PidFile none",
                    f"AuthorizedKeysFile {keys}",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",  # the test's files live under /tmp, which others may write
                    f"PermitUserEnvironment {HOST_VARS}",
                    "PermitUserRC no",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "X11Forwarding no",
                    "AllowTcpForwarding no",
                    "AllowAgentForwarding no",
                    "MaxSessions 100",
                    "MaxStartups 100",
                    "LogLevel INFO",
                    "",
                )
            )
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        script = f'hostname {self.name} && exec {SSHD} -D -e -f "$1" -E "$2"'
        paths = (str(config), str(self.log))
        self.sshd = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.ns}", "unshare", "--uts", "sh", "-c", script, "sh", *paths],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_listening(self, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            if "Server listening on" in text:
                return
            if self.sshd is not None and self.sshd.poll() is not None:
                raise RuntimeError(f"sshd of {self.name} exited ({self.sshd.returncode}): {text.strip()}")
            time.sleep(0.01)
        raise RuntimeError(f"sshd of {self.name} did not listen within {seconds}s")

    # -- what tests do to it ---------------------------------------------------------------------

    def nsenter(self) -> list[str]:
        """A command prefix that runs on this host: in its network and UTS namespaces (its sshd's)."""
        assert self.sshd is not None
        return ["nsenter", "-t", str(self.sshd.pid), "--net", "--uts"]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``ctask ARGS`` on this host, as a user logged in there would run it (not through ssh)."""
        return self.env.run(*args, timeout=timeout, prefix=self.nsenter())

    def run_bytes(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        """:meth:`run`, its output as bytes (for byte-for-byte comparisons)."""
        return subprocess.run(
            [*self.nsenter(), *ctask_argv(), *args],
            env=self.env.vars,
            cwd=self.env.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    def kill(self) -> None:
        """The machine dies: every process in its namespace (sshd, its sessions, its tmux and agents) killed."""
        kill_netns(self.ns)
        if self.sshd is not None:
            with contextlib.suppress(Exception):
                self.sshd.wait(timeout=5)
        with contextlib.suppress(Exception):
            self.env.tmux("kill-server")

    def unplug(self) -> None:
        """The machine stops answering: its link is down, so connections to it time out."""
        _run("ip", "-n", self.ns, "link", "set", "eth0", "down")

    def plug(self) -> None:
        _run("ip", "-n", self.ns, "link", "set", "eth0", "up")

    def tasks(self) -> list[str]:
        """The task directories in this host's ctask home (on disk)."""
        return self.env.task_names()


class Network:
    """A client namespace and ``count`` hosts reachable from it by ssh as ``host1``, ``host2``, ...

    ``client`` is the client's :class:`Env` (its ``config.yaml`` lists the hosts; ``CTASK_SSH`` is
    ``ssh -F <this network's ssh config>``); :meth:`ctask` runs the CLI there.  Use as a context
    manager, or call :meth:`close` (it never raises).
    """

    def __init__(self, root: Path, count: int = 2, *, hosts_config: list[dict[str, str]] | None = None) -> None:
        global _counter
        _counter += 1
        self.root = root
        self.tag = f"{PREFIX}{os.getpid()}x{_counter}"
        self.ns = f"{self.tag}c"
        self.namespaces: list[str] = []
        self.known_hosts: list[str] = []
        self.runtime = Path(tempfile.mkdtemp(prefix="ctr", dir="/tmp"))
        """The client's XDG_RUNTIME_DIR (short: ssh's ControlPath sockets live under it)."""
        from tests.agents import install

        agents_bin = install(root / "agents-bin")
        self.hosts = [SimHost(self, i, agents_bin) for i in range(1, count + 1)]
        self.ssh_config = root / "ssh_config"
        self.user_key = root / "id_ed25519"
        self.client = Env(root / "client")
        self.client.vars["PATH"] = f"{agents_bin}:{self.client.vars['PATH']}"
        self.client.vars["CTASK_SSH"] = f"ssh -F {self.ssh_config}"
        self.client.vars["XDG_RUNTIME_DIR"] = str(self.runtime)
        self.set_hosts(hosts_config if hosts_config is not None else [{"name": h.name} for h in self.hosts])

    def host(self, name: str) -> SimHost:
        return next(h for h in self.hosts if h.name == name)

    def set_hosts(self, hosts: list[dict[str, str]]) -> None:
        """The client's ``hosts:`` in config.yaml."""
        self.client.write_config({"hosts": hosts})

    def start(self) -> Network:
        remove_stale()
        try:
            _run("ip", "netns", "add", self.ns)
            self.namespaces.append(self.ns)
            _run("ip", "-n", self.ns, "link", "set", "lo", "up")
            user_pub = _keygen(self.user_key, "ctask-test")
            for host in self.hosts:
                host.plumb()
                host.start_sshd(user_pub)
            self._write_ssh_config()
            for host in self.hosts:
                host.wait_listening()
        except BaseException:
            self.close()
            raise
        return self

    def _write_ssh_config(self) -> None:
        known = self.root / "known_hosts"
        known.write_text("".join(f"{line}\n" for line in self.known_hosts))
        blocks = [f"Host {h.name}\n  HostName {h.address}\n  HostKeyAlias {h.name}\n" for h in self.hosts]
        blocks.append(
            "Host *\n"
            "  User root\n"
            f"  IdentityFile {self.user_key}\n"
            "  IdentitiesOnly yes\n"
            "  IdentityAgent none\n"
            f"  UserKnownHostsFile {known}\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n"
            "  UpdateHostKeys no\n"
            "  CheckHostIP no\n"
            "  BatchMode yes\n"
            "  LogLevel ERROR\n"
        )
        self.ssh_config.write_text("\n".join(blocks))

    def __enter__(self) -> t.Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the client ------------------------------------------------------------------------------

    def prefix(self) -> list[str]:
        """A command prefix that runs in the client's network namespace."""
        return ["nsenter", f"--net=/run/netns/{self.ns}"]

    def ctask(
        self, *args: str, timeout: float = 60, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``ctask ARGS`` on the client (``--host`` commands go through the real ssh)."""
        return self.client.run(*args, timeout=timeout, env=env, prefix=self.prefix())

    def ctask_bytes(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        """``ctask ARGS`` on the client, its output as bytes (for byte-for-byte comparisons)."""
        return subprocess.run(
            [*self.prefix(), *ctask_argv(), *args],
            env=self.client.vars,
            cwd=self.client.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    def ssh(self, host: str, *command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """The bare ssh client from the client namespace: ``ssh -F CONFIG HOST COMMAND``."""
        return _run(*self.prefix(), "ssh", "-F", str(self.ssh_config), host, *command, check=False, timeout=timeout)

    def close(self) -> None:
        """End everything this network started; never raises."""
        for ns in reversed(self.namespaces):
            with contextlib.suppress(Exception):
                kill_netns(ns)
        for host in self.hosts:
            if host.sshd is not None:
                with contextlib.suppress(Exception):
                    host.sshd.wait(timeout=5)
            with contextlib.suppress(Exception):
                host.env.cleanup()
        with contextlib.suppress(Exception):
            self.client.cleanup()
        for ns in reversed(self.namespaces):
            with contextlib.suppress(Exception):
                _run("ip", "netns", "del", ns, check=False)
        self.namespaces.clear()
        shutil.rmtree(self.runtime, ignore_errors=True)


def ctask_argv() -> list[str]:
    """How tests run the CLI: this interpreter on the checkout (as :meth:`Env.run` does)."""
    return [sys.executable, "-m", "ctask_ls.cli"]


__all__ = ["REPO", "Network", "SimHost", "Unavailable", "ctask_argv", "unavailable"]
