"""Server benchmarks: a bare JSON-RPC client over the server's stdio.

The client is a few lines of asyncio (Content-Length framing), so what is
timed is the server, not a client library.  Each benchmark starts a fresh
server with a private home and tmux socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from bench.run import Row


class Client:
    """A minimal LSP client: requests with ids, notifications collected with arrival times."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.next_id = 0
        self.pending: dict[int, asyncio.Future[t.Any]] = {}
        self.notes: list[tuple[float, str, t.Any]] = []
        self.note_event = asyncio.Event()
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, env: dict[str, str], settings: dict[str, t.Any] | None = None) -> Client:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ctask_ls",
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = cls(proc)
        await client.request(
            "initialize",
            {"processId": os.getpid(), "rootUri": None, "capabilities": {}, "initializationOptions": settings or {}},
        )
        client.notify("initialized", {})
        return client

    async def first_state(self, method: str, key: str, want: str, seconds: float = 10.0) -> float | None:
        """The time (``perf_counter``) the first ``method`` with ``params[key].state == want`` came, or None."""
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            got = [ts for ts, m, p in self.notes if m == method and ((p or {}).get(key) or {}).get("state") == want]
            if got:
                return got[0]
            self.note_event.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.note_event.wait(), 0.5)
        return None

    def _send(self, message: dict[str, t.Any]) -> None:
        body = json.dumps(message).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def request(self, method: str, params: t.Any) -> t.Any:
        self.next_id += 1
        fut: asyncio.Future[t.Any] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = fut
        self._send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return await fut

    def notify(self, method: str, params: t.Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def command(self, name: str, arg: dict[str, t.Any]) -> t.Any:
        return await self.request("workspace/executeCommand", {"command": name, "arguments": [arg]})

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            header = await self.proc.stdout.readuntil(b"\r\n\r\n")
            length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
            msg = json.loads(await self.proc.stdout.readexactly(length))
            if "id" in msg and "method" in msg:  # a request from the server: answer with the first action
                actions = (msg.get("params") or {}).get("actions") or []
                self._send({"jsonrpc": "2.0", "id": msg["id"], "result": actions[0] if actions else None})
            elif "id" in msg:
                fut = self.pending.pop(msg["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(msg.get("result", msg.get("error")))
            else:
                self.notes.append((time.perf_counter(), msg["method"], msg.get("params")))
                self.note_event.set()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.request("shutdown", None), 15)
            self.notify("exit", None)
            await asyncio.wait_for(self.proc.wait(), 15)
        if self.proc.returncode is None:
            self.proc.kill()
        self.reader.cancel()


def _env(tmp: Path, config: str) -> tuple[dict[str, str], Path]:
    sock_dir = Path(tempfile.mkdtemp(prefix="cs", dir="/tmp"))
    (tmp / "config.yaml").write_text(config)
    env = {
        **os.environ,
        "CTASK_HOME": str(tmp / "ctask"),
        "CTASK_TMUX_SOCKET": str(sock_dir / "tmux.sock"),
        "CTASK_CONFIG": str(tmp / "config.yaml"),
        "HOME": str(tmp),
    }
    env.pop("TMUX", None)
    return env, sock_dir


def _kill_tmux(env: dict[str, str], sock_dir: Path) -> None:
    subprocess.run(["tmux", "-S", env["CTASK_TMUX_SOCKET"], "kill-server"], capture_output=True, check=False)
    shutil.rmtree(sock_dir, ignore_errors=True)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def bench_roundtrip(tmp: Path, runs: int) -> list[Row]:
    from bench.run import Row

    env, sock = _env(tmp, "agent: {command: sleep, args: ['600']}\npoll_interval: 1\n")

    async def go() -> tuple[list[float], list[float]]:
        client = await Client.start(env)
        try:
            for i in range(5):
                await client.command("ctask.new", {"name": f"t{i}"})
            status, noop = [], []
            for i in range(1000):
                start = time.perf_counter()
                await client.command("ctask.status", {"name": f"t{i % 5}"})
                status.append(time.perf_counter() - start)
                start = time.perf_counter()
                await client.command("ctask.noSuchCommand", {})
                noop.append(time.perf_counter() - start)
            return status, noop
        finally:
            await client.close()

    try:
        status, noop = asyncio.run(go())
    finally:
        _kill_tmux(env, sock)
    p50, p99 = statistics.median(status), _pct(status, 0.99)
    r50, r99 = statistics.median(noop), _pct(noop, 0.99)
    return [
        Row(
            "`ctask.status` over stdio, 1,000 calls (5 owned sessions), p50",
            f"{p50 * 1000:.2f} ms",
            f"no-op executeCommand p50: {r50 * 1000:.2f} ms",
            f"{p50 / r50:.2f}×",
            "≤ 1.5×",
            "meets" if p50 / r50 <= 1.5 else "MISSES",
        ),
        Row(
            "… p99",
            f"{p99 * 1000:.2f} ms",
            f"no-op p99: {r99 * 1000:.2f} ms",
            f"{p99 / r99:.2f}×",
            "≤ 1.5×",
            "meets" if p99 / r99 <= 1.5 else "MISSES",
        ),
    ]


def bench_lease_latency(tmp: Path, runs: int) -> list[Row]:
    from bench.run import Row

    env, sock = _env(tmp, "poll_interval: 1\n")
    lease_text = (
        "schema: 1\nsession_id: bench-{n}\nhost: {host}\npid: {pid}\nagent: x\nmode: persistent\n"
        "tmux_session: ctask-t0\nstarted_at: '{now}'\nheartbeat_at: '{now}'\nowner: cli\n"
    )

    async def go() -> list[float]:
        task = Path(env["CTASK_HOME"]) / "tasks" / "t0"
        client = await Client.start(env)
        lat = []
        try:
            await client.command("ctask.new", {"name": "t0", "agent": "sleep", "args": ["1"]})
            await asyncio.sleep(3.0)  # the session ends and is recorded: a task with no lease
            for n in range(50):
                client.notes.clear()
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                target = task / "lease.yaml"
                start = time.perf_counter()
                if n % 2 == 0:
                    tmpf = target.with_suffix(".tmp")
                    tmpf.write_text(lease_text.format(n=n, host=os.uname().nodename, pid=os.getpid(), now=now))
                    tmpf.replace(target)
                    want = "fresh_local"
                else:
                    target.unlink()
                    want = "missing"
                at = await client.first_state("ctask/leaseState", "lease", want)
                if at is not None:
                    lat.append(at - start)
        finally:
            await client.close()
        return lat

    try:
        lat = asyncio.run(go())
    finally:
        _kill_tmux(env, sock)
    if not lat:
        return [Row("lease change → ctask/leaseState", "no notification", "-", "-", "p95 ≤ 1 s", "MISSES")]
    p50, p95 = statistics.median(lat), _pct(lat, 0.95)
    return [
        Row(
            f"lease change on disk → `ctask/leaseState` ({len(lat)} changes, poll 1 s), p50 / p95",
            f"{p50 * 1000:.0f} / {p95 * 1000:.0f} ms",
            "—",
            "—",
            "p95 ≤ 1 s",
            "meets" if p95 <= 1.0 and len(lat) == 50 else "MISSES",
        )
    ]


def bench_activity_latency(tmp: Path, runs: int) -> list[Row]:
    """A hook event (the real hook script, run as an agent runs it) → ``ctask/activity`` at the client.

    The task's agent is ``sleep``; the bench plays its hooks, alternating
    ``PermissionRequest`` (needs_input) and ``PostToolUse`` (working), each a
    change, at irregular moments against the 1 s poll.  Timed from the hook's
    start (its interpreter included) to the notification's arrival.
    """
    from bench.run import Row

    env, sock = _env(tmp, "poll_interval: 1\n")
    hook = Path(__file__).resolve().parent.parent / "ctask_ls" / "core" / "hook.py"
    count = 50

    async def go() -> tuple[list[float], list[float]]:
        task = Path(env["CTASK_HOME"]) / "tasks" / "t0"
        client = await Client.start(env)
        lat, alone = [], []
        try:
            await client.command("ctask.new", {"name": "t0", "agent": "sleep", "args": ["600"]})
            session = (task / "launched").read_text().strip()
            hook_env = {**env, "CTASK_TASK": "t0", "CTASK_SESSION_ID": session}
            await asyncio.sleep(1.5)  # a tick has seen the pane (its session id)
            for n in range(count):
                client.notes.clear()
                name, want = ("PermissionRequest", "needs_input") if n % 2 == 0 else ("PostToolUse", "working")
                event = json.dumps({"hook_event_name": name, "session_id": "bench", "tool_name": "Bash"}).encode()
                start = time.perf_counter()
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-I", "-S", str(hook), "claude", stdin=subprocess.PIPE, env=hook_env
                )
                await proc.communicate(event)
                alone.append(time.perf_counter() - start)
                at = await client.first_state("ctask/activity", "activity", want)
                if at is not None:
                    lat.append(at - start)
                await asyncio.sleep(0.05 + (n * 37 % 100) / 400)  # 50-300 ms: every phase of the poll
        finally:
            await client.close()
        return lat, alone

    try:
        lat, alone = asyncio.run(go())
    finally:
        _kill_tmux(env, sock)
    if not lat:
        return [Row("hook event → ctask/activity", "no notification", "-", "-", "p95 ≤ 200 ms", "MISSES")]
    p50, p95 = statistics.median(lat), _pct(lat, 0.95)
    h50 = statistics.median(alone)
    return [
        Row(
            f"hook event → `ctask/activity` at the client ({len(lat)} events, poll 1 s), p50 / p95",
            f"{p50 * 1000:.0f} / {p95 * 1000:.0f} ms",
            f"the hook process alone, p50: {h50 * 1000:.0f} ms",
            f"{p50 / h50:.2f}× (p50)",
            "p95 ≤ 200 ms",
            "meets" if p95 <= 0.2 and len(lat) == count else "MISSES",
        )
    ]


def _pane_pid(env: dict[str, str], session: str) -> int:
    out = subprocess.run(
        ["tmux", "-S", env["CTASK_TMUX_SOCKET"], "list-panes", "-t", f"={session}", "-F", "#{pane_pid}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.split()[0])


def bench_exit_latency(tmp: Path, runs: int) -> list[Row]:
    """An agent's exit → its session recorded: by the owning server (``ctask/sessionEnded`` at the client),
    and with no owner at all (``ctask new --detach``: tmux's ``pane-died`` hook runs the reaper), the
    summary on disk.  The agent (``sleep``) is killed with SIGTERM, timed from the kill."""
    from bench.run import Row

    env, sock = _env(tmp, "agent: {command: sleep, args: ['600']}\n")
    count = 20
    home = Path(env["CTASK_HOME"]) / "tasks"

    async def owned() -> list[float]:
        client = await Client.start(env)
        lat = []
        try:
            for n in range(count):
                name = f"own{n}"
                task = await client.command("ctask.new", {"name": name})
                await asyncio.sleep(0.3 + (n * 37 % 100) / 200)  # every phase of the 1 s poll
                client.notes.clear()
                start = time.perf_counter()
                os.kill(_pane_pid(env, task["session"]["tmux_session"]), 15)
                deadline = start + 10
                while time.perf_counter() < deadline:
                    ended = [ts for ts, m, p in client.notes if m == "ctask/sessionEnded" and p["name"] == name]
                    if ended:
                        lat.append(ended[0] - start)
                        break
                    client.note_event.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(client.note_event.wait(), 0.5)
        finally:
            await client.close()
        return lat

    def unowned() -> list[float]:
        lat = []
        for n in range(count):
            name = f"free{n}"
            cli = [sys.executable, "-m", "ctask_ls.cli"]
            subprocess.run([*cli, "new", name, "--detach"], env=env, check=True, capture_output=True)
            session = json.loads(
                subprocess.run(
                    [*cli, "status", name, "--json"],
                    env=env,
                    check=True,
                    capture_output=True,
                ).stdout
            )["tmux_session"]
            summary = home / name / "summary.yaml"
            start = time.perf_counter()
            os.kill(_pane_pid(env, session), 15)
            while not summary.exists() and time.perf_counter() < start + 10:
                time.sleep(0.002)
            if summary.exists():
                lat.append(time.perf_counter() - start)
        return lat

    try:
        by_server = asyncio.run(owned())
        by_reaper = unowned()
    finally:
        _kill_tmux(env, sock)
    rows = []
    cases = (("owned by the server (`ctask/sessionEnded`)", by_server), ("owned by nobody (reaper)", by_reaper))
    for what, lat in cases:
        if not lat:
            rows.append(Row(f"agent exit → recorded, {what}", "never recorded", "-", "-", "p95 ≤ 1 s", "MISSES"))
            continue
        p50, p95 = statistics.median(lat), _pct(lat, 0.95)
        rows.append(
            Row(
                f"agent exit → session recorded, {what}, {len(lat)} exits, p50 / p95",
                f"{p50 * 1000:.0f} / {p95 * 1000:.0f} ms",
                "—",
                "—",
                "p95 ≤ 1 s",
                "meets" if p95 <= 1.0 and len(lat) == count else "MISSES",
            )
        )
    return rows


def bench_idle(tmp: Path, runs: int, seconds: float = 60.0) -> list[Row]:
    rows = []
    for sessions in (20, 100):
        sub = tmp / f"idle{sessions}"
        sub.mkdir()
        rows += _idle(sub, sessions, seconds)
    return rows


IDLE_AGENT = "import os,time\nfor i in range(1000): open(f'f{i}', 'w').write(str(i))\ntime.sleep(600)\n"
"""Each idle session's agent: it writes 1,000 files (a live diff to send), then sleeps.  A server that walked
the trees on a timer would show here; one that watches them does nothing more once the diff is sent."""


def _idle(tmp: Path, sessions: int, seconds: float) -> list[Row]:
    from bench.run import Row

    agent = json.dumps({"command": sys.executable, "args": ["-c", IDLE_AGENT]})
    env, sock = _env(tmp, f"agent: {agent}\nidle_after: 2\n")

    async def go() -> tuple[float, float, int]:
        client = await Client.start(env)
        try:
            for i in range(sessions):
                await client.command("ctask.new", {"name": f"idle{i}"})
            # The agents wrote their files, their live diffs went out, and their turns ended (idle_after 2 s):
            # each took its turn's checkpoint.  From now on nothing changes.
            await asyncio.sleep(6 + sessions / 10)
            pid = client.proc.pid
            cpu0, children0 = _cpu_seconds(pid)
            await asyncio.sleep(seconds)
            cpu1, children1 = _cpu_seconds(pid)
            return (cpu1 - cpu0) / seconds, (children1 - children0) / seconds, _rss_kib(pid)
        finally:
            await client.close()

    try:
        share, children, rss = asyncio.run(go())
    finally:
        _kill_tmux(env, sock)
    return [
        Row(
            f"server idle with {sessions} owned sessions (1,000 files changed in each tree), {seconds:.0f} s: CPU",
            f"{share * 100:.2f}% of a core",
            "—",
            "—",
            "≤ 0.3%" if sessions == 20 else "—",
            ("meets" if share <= 0.003 else "MISSES") if sessions == 20 else "",
        ),
        Row(
            f"… its tmux clients, {sessions} sessions (list-panes at deadlines and every 10 s, the exit wait)",
            f"{children * 100:.2f}% of a core",
            "—",
            "—",
            "—",
            "",
        ),
        Row(
            f"… memory (RSS), {sessions} sessions",
            f"{rss / 1024:.0f} MB",
            "—",
            "—",
            "≤ 100 MB" if sessions == 20 else "—",
            ("meets" if rss <= 100 * 1024 else "MISSES") if sessions == 20 else "",
        ),
    ]


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds of the process itself, and of its children that ended (its tmux clients)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


BENCHES: dict[str, t.Callable[[Path, int], list[Row]]] = {
    "roundtrip": bench_roundtrip,
    "lease_latency": bench_lease_latency,
    "activity_latency": bench_activity_latency,
    "idle": bench_idle,
    "exit_latency": bench_exit_latency,
}
