"""``ctask list --all-hosts`` over real ssh (SPEC 10): three simulated hosts (tests/remote/hosts.py).

    .venv/bin/python bench/run.py hosts

Three hosts, each a network namespace with its own sshd and ctask home
holding 50, 100 and 200 tasks (host3 is the slowest to list), reached from a
client namespace by the real ssh client.  After a warm-up (ssh's
ControlMaster connections are up, as they are for a user who listed a
minute ago), each round times, interleaved so that all see the same load:

* ``ctask list --all-hosts --json`` on the client (no local tasks);
* ``ctask --host X list --json`` for each host;
* ``ctask list --json`` on each host itself (what a user logged in there waits for);
* ``ssh X true`` over the shared connection (the options ctask passes), and
  over a fresh connection (``ControlPath=none``): ssh's bare cost.

The target (issue 18): ``--all-hosts`` costs at most the slowest host's
``ctask list`` plus ssh's connection time.  Needs root and openssh-server
(as the tests do); otherwise the benchmark reports why it cannot run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from bench.run import Row

ROUNDS = 40
TASKS = (50, 100, 200)


def _pct(values: list[float], q: float) -> float:
    """As server_bench's percentiles."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(*commands: tuple[list[str], dict[str, str]]) -> float:
    """Seconds until every one of ``commands`` (started at once) has ended."""
    start = time.perf_counter()
    procs = [
        subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for argv, env in commands
    ]
    for proc in procs:
        proc.wait()
    return time.perf_counter() - start


def bench_hosts(tmp: Path, runs: int) -> list[Row]:
    from bench.run import REPO, Row, make_tasks, verdict
    from ctask_ls.cli_remote import CONTROL_PERSIST
    from tests.remote.hosts import Network, ctask_argv, unavailable

    why = unavailable()
    if why is not None:
        return [Row("`ctask list --all-hosts`, 3 hosts", "not run", why, "-", "-", "-")]
    # As an installed ctask runs: its bytecode cached, not recompiled at every start.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "ctask_ls")], check=False, stdout=subprocess.DEVNULL
    )
    net = Network(tmp / "net", len(TASKS))
    for host, count in zip(net.hosts, TASKS, strict=True):
        host.env.vars.pop("PYTHONDONTWRITEBYTECODE", None)
        make_tasks(host.env.ctask_home / "tasks", count, leased=0)
    net.client.vars.pop("PYTHONDONTWRITEBYTECODE", None)
    with net:
        client = net.client.vars
        ctask = [*net.prefix(), *ctask_argv()]
        ssh = [*net.prefix(), "ssh", "-F", str(net.ssh_config)]
        control = Path(client["XDG_RUNTIME_DIR"]) / "ctask-ssh"
        shared = [
            "-o",
            "ControlMaster=auto",
            "-o",
            f"ControlPath={control}/%C",
            "-o",
            f"ControlPersist={CONTROL_PERSIST}",
        ]
        fresh = ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
        names = [h.name for h in net.hosts]
        listed = subprocess.run([*ctask, "list", "--all-hosts", "--json"], env=client, capture_output=True, check=False)
        got = json.loads(listed.stdout)
        assert len(got["tasks"]) == sum(TASKS) and not got["unreachable"], listed.stderr[-500:]
        probes: dict[str, list[tuple[list[str], dict[str, str]]]] = {
            "all": [([*ctask, "list", "--all-hosts", "--json"], client)],
            "on:all": [([*h.nsenter(), *ctask_argv(), "list", "--json"], h.env.vars) for h in net.hosts],
        }
        for host in net.hosts:
            probes[f"via:{host.name}"] = [([*ctask, "--host", host.name, "list", "--json"], client)]
            probes[f"on:{host.name}"] = [([*host.nsenter(), *ctask_argv(), "list", "--json"], host.env.vars)]
            probes[f"ssh:{host.name}"] = [([*ssh, *shared, host.name, "true"], client)]
            probes[f"fresh:{host.name}"] = [([*ssh, *fresh, host.name, "true"], client)]
        for commands in probes.values():  # warm-up: page cache, bytecode, the shared connections
            _timed(*commands)
        times: dict[str, list[float]] = {key: [] for key in probes}
        for _ in range(max(ROUNDS, runs)):
            for key, commands in probes.items():
                times[key].append(_timed(*commands))

    def p(key: str, q: float) -> float:
        return _pct(times[key], q)

    slowest = max(names, key=lambda n: p(f"via:{n}", 0.5))
    on_slowest = max(names, key=lambda n: p(f"on:{n}", 0.5))
    target = p(f"on:{on_slowest}", 0.5) + p(f"ssh:{on_slowest}", 0.5)
    target95 = p(f"on:{on_slowest}", 0.95) + p(f"ssh:{on_slowest}", 0.95)
    at_once = p("on:all", 0.5) + p(f"ssh:{on_slowest}", 0.5)
    at_once95 = p("on:all", 0.95) + p(f"ssh:{on_slowest}", 0.95)
    all50, all95 = p("all", 0.5) * 1000, p("all", 0.95) * 1000
    rounds = len(times["all"])
    counts = ", ".join(str(c) for c in TASKS)
    rows = [
        Row(
            f"`ctask list --all-hosts --json`, 3 hosts over ssh ({counts} tasks), {rounds} rounds, p50 / p95",
            f"{all50:.0f} / {all95:.0f} ms",
            f"the slowest host's `ctask list --json` there, alone, + `ssh {on_slowest} true` (shared connection): "
            f"{target * 1000:.0f} / {target95 * 1000:.0f} ms",
            f"{p('all', 0.5) / target:.2f}× / {p('all', 0.95) / target95:.2f}×",
            "≤ 1×",
            verdict(p("all", 0.5) <= target),
        ),
        Row(
            "… against the three hosts' `ctask list --json` started at once on this 2-core machine (the CPU "
            "contention of simulated hosts), until the last ends, p50 / p95",
            f"{all50:.0f} / {all95:.0f} ms",
            f"all three there + `ssh {on_slowest} true` (shared connection): {at_once * 1000:.0f} / "
            f"{at_once95 * 1000:.0f} ms",
            f"{p('all', 0.5) / at_once:.2f}× / {p('all', 0.95) / at_once95:.2f}×",
            "—",
            "—",
        ),
        Row(
            "… against the slowest single host's `ctask --host X list --json`, p50 / p95",
            f"{all50:.0f} / {all95:.0f} ms",
            f"`ctask --host {slowest} list --json`: {p(f'via:{slowest}', 0.5) * 1000:.0f} / "
            f"{p(f'via:{slowest}', 0.95) * 1000:.0f} ms",
            f"{p('all', 0.5) / p(f'via:{slowest}', 0.5):.2f}× / {p('all', 0.95) / p(f'via:{slowest}', 0.95):.2f}×",
            "—",
            "—",
        ),
        Row(
            "… `ssh HOST true`, shared connection (ControlMaster, as ctask runs it) / a fresh one, p50",
            f"{p(f'ssh:{on_slowest}', 0.5) * 1000:.1f} ms",
            f"fresh connection: {p(f'fresh:{on_slowest}', 0.5) * 1000:.1f} ms",
            f"{p(f'ssh:{on_slowest}', 0.5) / p(f'fresh:{on_slowest}', 0.5):.2f}×",
            "—",
            "—",
        ),
    ]
    rows += [
        Row(
            f"… `ctask --host {name} list --json` / `ctask list --json` on {name} ({count} tasks), p50",
            f"{p(f'via:{name}', 0.5) * 1000:.0f} ms",
            f"on {name}: {p(f'on:{name}', 0.5) * 1000:.0f} ms",
            f"{p(f'via:{name}', 0.5) / p(f'on:{name}', 0.5):.2f}×",
            "—",
            "—",
        )
        for name, count in zip(names, TASKS, strict=True)
    ]
    return rows


BENCHES: dict[str, t.Callable[[Path, int], list[Row]]] = {"hosts": bench_hosts}
