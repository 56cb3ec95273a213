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


def bench_idle(tmp: Path, runs: int, seconds: float = 60.0) -> list[Row]:
    from bench.run import Row

    env, sock = _env(tmp, "agent: {command: sleep, args: ['600']}\n")

    async def go() -> tuple[float, int]:
        client = await Client.start(env)
        try:
            for i in range(20):
                await client.command("ctask.new", {"name": f"idle{i}"})
            await asyncio.sleep(3)
            pid = client.proc.pid
            cpu0 = _cpu_seconds(pid)
            await asyncio.sleep(seconds)
            cpu = _cpu_seconds(pid) - cpu0
            return cpu / seconds, _rss_kib(pid)
        finally:
            await client.close()

    try:
        share, rss = asyncio.run(go())
    finally:
        _kill_tmux(env, sock)
    return [
        Row(
            f"server idle with 20 owned sessions, {seconds:.0f} s: CPU",
            f"{share * 100:.2f}% of a core",
            "—",
            "—",
            "≤ 1%",
            "meets" if share <= 0.01 else "MISSES",
        ),
        Row("… memory (RSS)", f"{rss / 1024:.0f} MB", "—", "—", "≤ 100 MB", "meets" if rss <= 100 * 1024 else "MISSES"),
    ]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
}
