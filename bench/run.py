"""ctask_ls benchmarks: ratios against references measured in the same run.

    .venv/bin/python bench/run.py            # everything, writes bench/results.md
    .venv/bin/python bench/run.py manifest   # only the named benchmarks (their rows replaced)

Each benchmark builds its data in a temporary directory, times ctask and a
reference on the same data (best of N wall-clock runs, after a warm-up run so
both see a warm page cache), and reports the ratio against the target.
Benchmarks are not tests: nothing here asserts, and the test suite has no
timing assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import checkpoint_bench, hook_bench, hosts_bench, server_bench  # noqa: E402
from ctask_ls.core import manifest  # noqa: E402


@dataclasses.dataclass
class Row:
    what: str
    ours: str
    reference: str
    ratio: str
    target: str
    verdict: str


def best_of(fn: t.Callable[[], object], runs: int) -> float:
    fn()  # warm-up: page cache, imports
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


# -- data ------------------------------------------------------------------------------------


def make_tree(root: Path, files: int = 100_000, size: int = 4096, *, distinct: bool = False) -> None:
    """``files`` files of about ``size`` bytes in 100 × 10 directories; ``distinct``: each its own content (its
    path, then a slice of random words, as text compresses), else 64 contents (for walks, where content is not
    read)."""
    per_dir = max(1, files // 1000)
    blob = b"x" * (size + 64)
    if distinct:
        import random

        rng = random.Random(17)
        words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz_", k=rng.randint(2, 9))) for _ in range(4000)]
        blob = b" ".join(rng.choices(words, k=400_000))  # about 2.4 MB of "source"
    made = 0
    for a in range(100):
        for b in range(10):
            d = root / f"pkg{a:02d}" / f"mod{b}"
            d.mkdir(parents=True, exist_ok=True)
            for c in range(per_dir):
                if made >= files:
                    return
                with open(d / f"file{c:03d}.txt", "wb") as fh:
                    if distinct:
                        at = (made * 7919) % (len(blob) - size - 64)
                        fh.write(b"%s/%d\n" % (str(d).encode(), c) + blob[at : at + size + (c % 64)])
                    else:
                        fh.write(blob[: size + (c % 64)])
                made += 1


def change_tree(root: Path) -> None:
    """100 modified, 50 added, 50 deleted."""
    files = sorted(p for p in (root / "pkg00").rglob("*.txt"))
    for p in files[:100]:
        with open(p, "ab") as fh:
            fh.write(b"changed\n")
    for p in files[100:150]:
        p.unlink()
    for i in range(50):
        (root / "pkg01" / f"new{i}.txt").write_text("new\n")


# -- benchmarks ------------------------------------------------------------------------------


def bench_manifest(tmp: Path, runs: int) -> list[Row]:
    tree = tmp / "tree"
    make_tree(tree)
    ours = best_of(lambda: manifest.capture(tree), runs)
    ref = best_of(
        lambda: subprocess.run(["find", str(tree), "-printf", r"%s %T@ %p\n"], stdout=subprocess.DEVNULL, check=True),
        runs,
    )
    alone = best_of(lambda: manifest.capture(tree, split=False), runs)
    ratio = ours / ref
    rows = [
        Row(
            "manifest capture, 100,000 files (~400 MB)",
            ms(ours),
            f"find -printf: {ms(ref)}",
            f"{ratio:.2f}×",
            "≤ 1.5×",
            verdict(ratio <= 1.5),
        ),
        Row(
            "… the same walk in one process (no helper; for comparison, find is one process)",
            ms(alone),
            f"find -printf: {ms(ref)}",
            f"{alone / ref:.2f}×",
            "—",
            "—",
        ),
    ]
    # end-of-session diff: load the start manifest, capture, diff
    start = manifest.capture(tree)
    start_file = tmp / "manifest.start.json"
    start_file.write_text(start.to_json())
    git = shutil.which("git")
    if git is None:
        return rows
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@b",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@b",
    }
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run([git, *cmd], cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    start = manifest.capture(tree, ignore=[".git/"])
    start_file.write_text(start.to_json())
    change_tree(tree)

    def ours_diff() -> None:
        base = manifest.Manifest.load(start_file)
        manifest.diff(base, manifest.capture(tree, ignore=[".git/"]))

    d = manifest.diff(manifest.Manifest.load(start_file), manifest.capture(tree, ignore=[".git/"]))
    assert d.counts == {"added": 50, "modified": 100, "deleted": 50}, d.counts
    ours_d = best_of(ours_diff, runs)
    ref_d = best_of(
        lambda: subprocess.run([git, "status", "--porcelain"], cwd=tree, stdout=subprocess.DEVNULL, check=True),
        runs,
    )
    ratio = ours_d / ref_d
    rows.append(
        Row(
            "end-of-session diff (100 modified, 50 added, 50 deleted)",
            ms(ours_d),
            f"git status --porcelain: {ms(ref_d)}",
            f"{ratio:.2f}×",
            "≤ 2×",
            verdict(ratio <= 2.0),
        )
    )
    return rows


def bench_list(tmp: Path, runs: int) -> list[Row]:
    home = tmp / "ctask"
    sock = Path(tempfile.mkdtemp(prefix="cb", dir="/tmp")) / "tmux.sock"
    env = {
        **os.environ,
        "CTASK_HOME": str(home),
        "CTASK_TMUX_SOCKET": str(sock),
        "CTASK_CONFIG": str(tmp / "none.yaml"),
    }
    env.pop("TMUX", None)
    # Measure what an installed ctask does: with its modules' bytecode cached
    # (pip compiles it at install), not recompiled at every start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "ctask_ls")], check=False, stdout=subprocess.DEVNULL
    )
    make_tasks(home / "tasks", 1000, leased=10)
    tmux = shutil.which("tmux") or "tmux"
    try:
        for i in range(50):
            subprocess.run(
                [tmux, "-S", str(sock), "new-session", "-d", "-s", f"s{i}", "sleep", "600"],
                env=env,
                check=True,
                stdin=subprocess.DEVNULL,
            )
        ctask = [sys.executable, "-m", "ctask_ls.cli", "list", "--json"]
        out = subprocess.run(ctask, env=env, capture_output=True, text=True, check=False)
        count = len(json.loads(out.stdout))
        assert count == 1000, (count, out.stderr[-500:])
        ours = best_of(lambda: subprocess.run(ctask, env=env, stdout=subprocess.DEVNULL, check=False), runs)
        ref_tmux = best_of(
            lambda: subprocess.run([tmux, "-S", str(sock), "list-sessions"], stdout=subprocess.DEVNULL, check=True),
            runs,
        )
        ref_py = best_of(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), runs)
    finally:
        subprocess.run([tmux, "-S", str(sock), "kill-server"], check=False, capture_output=True)
        shutil.rmtree(sock.parent, ignore_errors=True)
    return [
        Row(
            "`ctask list --json`, 1,000 tasks (10 leased)",
            ms(ours),
            f"tmux list-sessions (50 sessions): {ms(ref_tmux)}; bare python: {ms(ref_py)}",
            f"{ours / ref_tmux:.1f}× tmux, {ours / ref_py:.1f}× python",
            "≤ 150 ms",
            verdict(ours <= 0.150),
        )
    ]


def make_tasks(tasks: Path, count: int, leased: int) -> None:
    """Workspaces as ctask writes them, a summary for each, a few fresh leases."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    import yaml

    from ctask_ls.core import timeutil
    from ctask_ls.core.lease import Lease, lease_yaml

    for i in range(count):
        ws = tasks / f"task-{i:04d}"
        (ws / "work").mkdir(parents=True)  # the layout of schema 2: the control directory, the agent's tree in it
        (ws / "task.yaml").write_text(
            yaml.safe_dump(
                {
                    "schema": 2,
                    "name": ws.name,
                    "created_at": now,
                    "updated_at": now,
                    "agent": {"command": "claude", "args": [], "env": {}},
                    "mode": "persistent",
                    "provisional": False,
                },
                sort_keys=False,
            )
        )
        (ws / "summary.yaml").write_text(
            yaml.safe_dump(
                {
                    "schema": 1,
                    "task": ws.name,
                    "session_id": f"h-1-{i}",
                    "host": "h",
                    "agent": "claude",
                    "mode": "persistent",
                    "started_at": now,
                    "ended_at": now,
                    "duration_s": 10,
                    "baseline": "original",
                    "added": ["a.txt"],
                    "modified": [],
                    "deleted": [],
                    "counts": {"added": 1, "modified": 0, "deleted": 0},
                    "bytes": {"added": 3, "modified": 0, "deleted": 0},
                    "files_at_end": 1,
                    "bytes_at_end": 3,
                    "end_reason": "agent_exited",
                    "detected_via": "polling",
                    "session_ownership": "owned",
                    "exit_status": 0,
                },
                sort_keys=False,
            )
        )
        if i < leased:  # as ctask's heartbeat writes a lease (lease_yaml), not as yaml.safe_dump would
            at = timeutil.parse(now)
            lease = Lease(f"{platform.node()}-{os.getpid()}-1", platform.node(), os.getpid(), "claude", "persistent",
                          f"ctask-{ws.name}", at, at, "cli")  # fmt: skip
            (ws / "lease.yaml").write_text(lease_yaml(lease))
    (tasks / ".schema").write_text("2\n")  # as a home ctask made: nothing to migrate


BENCHES: dict[str, t.Callable[[Path, int], list[Row]]] = {
    "manifest": bench_manifest,
    "list": bench_list,
    **server_bench.BENCHES,
    **hook_bench.BENCHES,
    **checkpoint_bench.BENCHES,
    **hosts_bench.BENCHES,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", choices=[*BENCHES, []], help="benchmarks to run (default: all)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement (best is kept)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results.md")
    args = parser.parse_args()
    names = args.names or list(BENCHES)
    rows: list[Row] = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"ctask-bench-{name}-") as tmp:
            print(f"== {name}", flush=True)
            try:
                got = BENCHES[name](Path(tmp), args.runs)
            except Exception as exc:  # noqa: BLE001 - a broken benchmark is reported, the rest still run
                got = [Row(name, "error", str(exc)[:200], "-", "-", "ERROR")]
            for row in got:
                print(f"   {row.what}: {row.ours} vs {row.reference} -> {row.ratio} ({row.target}: {row.verdict})")
            rows.extend(got)
    write_results(args.out, rows, partial=names if args.names else None)
    print(f"wrote {args.out}")
    return 0


def write_results(path: Path, rows: list[Row], partial: list[str] | None = None) -> None:
    """Rewrite the table; a run of some benchmarks (``partial``) replaces only their rows and says when."""
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"Measured {when} on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}.\n\n"
        "| what | ctask | reference (same run, same data) | ratio | target | |\n|---|---|---|---|---|---|\n"
    )
    lines = [f"| {r.what} | {r.ours} | {r.reference} | {r.ratio} | {r.target} | {r.verdict} |\n" for r in rows]
    text = path.read_text() if path.exists() else "# Benchmark results\n\n<!-- table -->\n<!-- /table -->\n"
    start, end = "<!-- table -->\n", "<!-- /table -->"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        old, after = rest.split(end, 1)
        if partial and "| what |" in old:
            header, lines = _merged(old, rows, lines, f"`{' '.join(partial)}` measured {when}.")
        text = before + start + header + "".join(lines) + end + after
    else:
        text += "\n" + start + header + "".join(lines) + end + "\n"
    with contextlib.suppress(OSError):
        path.write_text(text)


def _merged(old: str, rows: list[Row], lines: list[str], note: str) -> tuple[str, list[str]]:
    """The old table's header (with ``note``) and rows, each row measured now replacing the one of its name."""
    head, _, body = old.partition("|---|---|---|---|---|---|\n")
    new = {r.what: line for r, line in zip(rows, lines, strict=True)}
    kept = []
    for line in body.splitlines(keepends=True):
        what = line.split(" | ", 1)[0].removeprefix("| ")
        kept.append(new.pop(what, line))
    first, _, table_head = head.partition("\n\n")
    first = "\n".join(ln for ln in first.splitlines() if not ln.startswith(note.split(" measured ")[0]))
    first += "\n" + note
    return f"{first}\n\n{table_head}|---|---|---|---|---|---|\n", kept + list(new.values())


if __name__ == "__main__":
    sys.exit(main())
