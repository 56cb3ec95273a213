"""End to end in the real VS Code: code-server in headless Chromium.

The built ``ctask.vsix`` is installed into code-server (VS Code 1.100.3),
which starts the real ``ctask-ls`` from this virtual environment; the agent
runs in real tmux on the test's private socket.  ``drive.mjs`` (puppeteer-core)
uses the keyboard as a user would: F1, "ctask: New Task", Enter, the name,
Enter.  The test then sees the status-bar item show the task as owned, the
integrated terminal attached to the tmux session, and, once the scripted agent
exits, the item change.  The open folder is a git repository: "ctask: New Task
from This Repository" then makes a second task whose agent runs in a git
worktree on branch ``ctask/NAME``, shown in the item's tooltip.  Screenshots
go to ``tests/vscode/artifacts/``.

First use installs code-server from the npm registry into a download cache
outside the repository (``$CTASK_TEST_CACHE``, else ``$XDG_CACHE_HOME`` or
``~/.cache``, then ``ctask-test/code-server-<version>``; about a minute), and
Debian's chromium, libkrb5-dev, pkg-config, ripgrep and a C++ toolchain with
apt-get when they are missing.  Everything the editor and the server write
(HOME, XDG dirs, the ctask home, the user data of code-server) is in the
test's temp dir.  ``CTASK_SKIP_VSCODE_E2E=1`` skips it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import typing as t
import urllib.error
import urllib.request
from pathlib import Path

import filelock
import pytest
import yaml

from tests.helpers import BIN, REPO, Env, retry_until
from tests.hook_agent import hook_agent
from tests.remote.conftest import need_hosts
from tests.remote.hosts import Network
from tests.vscode import tools

CODE_SERVER_VERSION = "4.100.3"
"""The last code-server line that runs on Node 20 (VS Code 1.100.3)."""

HERE = Path(__file__).resolve().parent
EXTENSION = REPO / "editors" / "vscode"
ARTIFACTS = HERE / "artifacts"
TASK = "hello-vscode"
REPO_TASK = "repo-vscode"

pytestmark = pytest.mark.xdist_group("vscode")
"""Under ``pytest -n``, one worker runs these one after the other: two code-servers and browsers at once would
starve each other (and the rest) on a 2-core machine."""

APT_PACKAGES = ("chromium", "libkrb5-dev", "pkg-config", "ripgrep", "g++", "make", "python3")
"""Debian packages code-server's native modules and the browser need."""


def _log(message: str) -> None:
    print(f"[vscode-e2e] {message}", file=sys.stderr, flush=True)


def _cache_root() -> Path:
    if os.environ.get("CTASK_TEST_CACHE"):
        return Path(os.environ["CTASK_TEST_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ctask-test"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _missing_packages() -> list[str]:
    return [pkg for pkg in APT_PACKAGES if tools.run(["dpkg", "-s", pkg], timeout=30).returncode != 0]


def _ensure_system_packages() -> str:
    """Install what is missing with apt-get; return the chromium binary. Skips when that is impossible."""
    if shutil.which("dpkg") is None:
        if _chromium() and shutil.which("rg"):
            return t.cast(str, _chromium())
        pytest.skip("not a Debian/Ubuntu machine and chromium or ripgrep is missing: cannot install them")
    missing = _missing_packages()
    if missing:
        prefix: list[str] = []
        if os.geteuid() != 0:
            if shutil.which("sudo") is None:
                pytest.skip(f"needs {' '.join(missing)}; not root and no sudo to apt-get install them")
            prefix = ["sudo", "-n"]
        _log(f"apt-get install {' '.join(missing)}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        update = tools.run([*prefix, "apt-get", "update", "-qq"], env=env)
        install = tools.run([*prefix, "apt-get", "install", "-y", "-qq", *missing], env=env, timeout=900)
        if install.returncode != 0:
            pytest.skip(f"cannot apt-get install {' '.join(missing)}: {(update.stderr + install.stderr)[-800:]}")
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed and apt-get did not provide it")
    return chromium


def _newest_mtime(paths: t.Iterable[Path]) -> float:
    newest = 0.0
    for path in paths:
        files = path.rglob("*") if path.is_dir() else [path]
        for f in files:
            with contextlib.suppress(FileNotFoundError):
                newest = max(newest, f.stat().st_mtime)
    return newest


def _build_vsix() -> Path:
    """``ctask.vsix`` from editors/vscode, rebuilt when a source is newer than it."""
    tools.ci_if_stale(EXTENSION)
    vsix = EXTENSION / "ctask.vsix"
    sources = [EXTENSION / p for p in ("src", "package.json", "package-lock.json", "esbuild.mjs", "README.md")]
    if not vsix.exists() or vsix.stat().st_mtime < _newest_mtime(sources):
        _log("npm run package in editors/vscode")
        tools.must(tools.run(["npm", "run", "package"], cwd=EXTENSION), "npm run package")
    return vsix


def _ensure_code_server() -> Path:
    """code-server from the npm registry, built for this Node, in the download cache."""
    dest = _cache_root() / f"code-server-{CODE_SERVER_VERSION}"
    binary = dest / "node_modules" / ".bin" / "code-server"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(dest) + ".lock", timeout=1200):
        if (dest / ".complete").exists() and binary.exists():
            return binary
        _log(f"installing code-server {CODE_SERVER_VERSION} into {dest} (first use, about a minute)")
        if tools.run(["npm", "ping"], timeout=60).returncode != 0:
            pytest.skip("the npm registry is unreachable: cannot install code-server")
        proc = tools.run(["bash", str(HERE / "install-code-server.sh"), CODE_SERVER_VERSION, str(dest)], timeout=1200)
        tools.must(proc, f"installing code-server {CODE_SERVER_VERSION}")
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"code-server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"code-server did not answer on {url} within {seconds}s:\n{log.read_text()[-4000:]}")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (code-server, its extension host, ctask-ls), then SIGKILL. Never raises."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
            if sig is signal.SIGTERM:
                # The group may outlive its leader for a moment: make sure nothing is left.
                with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
            return


def _server_settings() -> dict[str, t.Any]:
    """``ctask.server.*`` pointing at the ctask-ls of the virtual environment running the tests."""
    ctask_ls = BIN / "ctask-ls"
    if ctask_ls.exists():
        return {"ctask.server.command": str(ctask_ls)}
    return {"ctask.server.command": sys.executable, "ctask.server.args": ["-m", "ctask_ls"]}


USER_SETTINGS: dict[str, t.Any] = {
    "workbench.startupEditor": "none",
    "security.workspace.trust.enabled": False,
    "telemetry.telemetryLevel": "off",
    "workbench.tips.enabled": False,
    "extensions.ignoreRecommendations": True,
    "update.mode": "none",
    # The DOM renderer, so the test can read what the agent printed in the terminal.
    "terminal.integrated.gpuAcceleration": "off",
}


def _steps(stdout: str) -> dict[str, dict[str, t.Any]]:
    steps: dict[str, dict[str, t.Any]] = {}
    for line in stdout.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            data = json.loads(line)
            if isinstance(data, dict) and "step" in data:
                steps[str(data["step"])] = data
    return steps


@dataclasses.dataclass(frozen=True)
class Tools:
    """What the end-to-end tests need, installed once per test session."""

    chromium: str
    vsix: Path
    code_server: Path


@pytest.fixture(scope="session")
def vscode_tools() -> Tools:
    if os.environ.get("CTASK_SKIP_VSCODE_E2E"):
        pytest.skip("CTASK_SKIP_VSCODE_E2E is set")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed (scripts/test-all installs them)")
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/test-all installs it)")
    started = time.monotonic()
    chromium = _ensure_system_packages()
    vsix = _build_vsix()
    code_server = _ensure_code_server()
    tools.ci_if_stale(HERE)
    _log(f"set-up took {time.monotonic() - started:.0f}s")
    return Tools(chromium, vsix, code_server)


class Drive(t.NamedTuple):
    steps: dict[str, dict[str, t.Any]]
    output: str
    returncode: int


class CodeServer:
    """One code-server with the extension installed, its HOME and user data in the test's temp dir."""

    def __init__(self, tools_: Tools, env: Env, root: Path) -> None:
        self.tools = tools_
        self.env = env
        self.root = root
        self.user_data = root / "user-data"
        self.extensions = root / "extensions"
        self.log = root / "code-server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        for d in (self.user_data / "User", self.extensions):
            d.mkdir(parents=True, exist_ok=True)
        (self.user_data / "User" / "settings.json").write_text(
            json.dumps({**_server_settings(), **USER_SETTINGS}, indent=2)
        )
        self.vars = {**env.vars, "SHELL": "/bin/sh"}
        self.args = ["--user-data-dir", str(self.user_data), "--extensions-dir", str(self.extensions)]
        install = [str(tools_.code_server), *self.args, "--install-extension", str(tools_.vsix)]
        tools.must(tools.run(install, env=self.vars, timeout=120), "code-server --install-extension")

    def start(self, folder: Path | None = None) -> str:
        """Start code-server on a free port with FOLDER open; return the URL that opens it."""
        self.port = _free_port()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    str(self.tools.code_server),
                    "--auth",
                    "none",
                    "--bind-addr",
                    f"127.0.0.1:{self.port}",
                    "--disable-telemetry",
                    "--disable-update-check",
                    "--disable-workspace-trust",
                    "--disable-getting-started-override",
                    *self.args,
                    *([str(folder)] if folder is not None else []),
                ],
                env=self.vars,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_http(f"http://127.0.0.1:{self.port}/healthz", self.proc, self.log)
        return f"http://127.0.0.1:{self.port}/" + (f"?folder={folder}" if folder is not None else "")

    def drive(
        self, scenario: str, url: str, task: str, *extra: str, on_tick: t.Callable[[str], None] | None = None
    ) -> Drive:
        """Run drive.mjs SCENARIO; ``on_tick(output so far)`` runs every 20 ms while it does."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        out_path = self.root / f"drive-{scenario}.out"
        argv = ["node", str(HERE / "drive.mjs"), "--scenario", scenario, "--url", url, "--task", task]
        argv += ["--artifacts", str(ARTIFACTS), "--chromium", self.tools.chromium, *extra]
        started = time.monotonic()
        with out_path.open("w") as out:
            driver = subprocess.Popen(argv, cwd=HERE, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            deadline = started + 300
            while driver.poll() is None:
                if time.monotonic() > deadline:
                    driver.kill()
                    driver.wait()
                    break
                if on_tick is not None:
                    on_tick(out_path.read_text())
                time.sleep(0.02)
        output = out_path.read_text()
        _log(f"the browser part of {scenario} took {time.monotonic() - started:.0f}s")
        (ARTIFACTS / f"drive-{scenario}.log").write_text(output)
        (ARTIFACTS / f"ctask-extension-{scenario}.log").write_text(self.extension_log())
        return Drive(_steps(output), output, driver.returncode)

    def check(self, drive: Drive) -> dict[str, dict[str, t.Any]]:
        """The driver's steps; fails with everything useful when it did not finish."""
        assert drive.returncode == 0 and "done" in drive.steps, (
            f"driver exited {drive.returncode}:\n{drive.output[-4000:]}\n"
            f"--- extension log\n{self.extension_log()}\n--- code-server log\n{self.log.read_text()[-3000:]}"
        )
        return drive.steps

    def extension_log(self) -> str:
        logs = sorted((self.user_data / "logs").rglob("ctask.log"))
        return "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-3000:]}" for p in logs)

    def stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)


@pytest.fixture
def code_server(vscode_tools: Tools, env: Env, tmp_path: Path) -> t.Iterator[CodeServer]:
    """A code-server for one test; killed by process group at the end (before the tmux server goes)."""
    server = CodeServer(vscode_tools, env, tmp_path / "code-server")
    try:
        yield server
    finally:
        server.stop()


class LeaseWatch:
    """Called on every tick of the driver: when the task's lease file appeared and went away (epoch seconds)."""

    def __init__(self, env: Env, name: str) -> None:
        self.path = env.task_dir(name) / "lease.yaml"
        self.written: float | None = None
        self.removed: float | None = None

    def __call__(self, _output: str) -> None:
        exists = self.path.exists()
        if exists and self.written is None:
            self.written = time.time()
        if not exists and self.written is not None and self.removed is None:
            self.removed = time.time()


@pytest.mark.timeout(1500)  # the first run installs code-server (about 2 minutes)
def test_new_task_from_the_command_palette_shows_owned_then_ended(
    env: Env, agent: list[str], tmp_path: Path, code_server: CodeServer
) -> None:
    task = "hello-vscode"
    # The scripted agent: says hello in its terminal, writes a file, works a few seconds, exits.
    agent_args = [agent[1], "print=hello from the agent", "write=result.txt:done", "sleep=6"]
    env.write_config({"agent": {"command": agent[0], "args": agent_args, "env": {}}})
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("a project folder that is not a task workspace, in a git repository\n")
    (project / "result.txt").write_text("initial\n")  # the repo task's agent changes it; the review reverts it
    for git_args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "initial"]):
        git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *git_args]
        tools.must(tools.run(git, cwd=project, env=env.vars, timeout=30), " ".join(git))
    url = code_server.start(project)

    watch = LeaseWatch(env, task)
    drive = code_server.drive(
        "new-task", url, task, "--terminal-text", "hello from the agent", "--repo-task", REPO_TASK, on_tick=watch
    )
    steps = code_server.check(drive)

    owned = steps["owned"]
    assert f"{task}: owned" in owned["text"], owned
    assert owned["label"].startswith(f"ctask task {task}: owned"), owned  # then the agent's activity
    assert "hello from the agent" in steps["terminal"]["text"], steps["terminal"]
    tooltip = steps["tooltip"]["text"]
    assert f"ctask: {task}" in tooltip and "pid " in tooltip and "heartbeat " in tooltip, tooltip
    ended = steps["ended"]
    assert ended["text"] == f"{task}: ended +1 ~0 -0", ended

    # The item follows ctask/leaseState within 2 seconds (the driver samples it every 0.1 s).
    assert watch.written is not None and watch.removed is not None, (watch.written, watch.removed)
    owned_lag = owned["wall"] - watch.written
    ended_lag = ended["wall"] - watch.removed
    _log(f"status bar: owned {owned_lag:.2f}s after the lease was written, changed {ended_lag:.2f}s after it went")
    assert owned_lag < 2.0, (owned, watch.written)
    assert ended_lag < 2.0, (ended, watch.removed)

    # Show Changes listed the file the agent wrote and opened it; Restart Server started a new server.
    assert any("result.txt" in f for f in steps["changes"]["files"]), steps["changes"]
    assert "result.txt" in steps["opened"]["tabs"], steps["opened"]
    assert code_server.extension_log().count("[info] starting ") >= 2, code_server.extension_log()

    # `when` clauses: with no session running the palette offers no Attach, and does offer Show Changes.
    assert not any("ctask: Attach" in row for row in steps["palette-attach"]["rows"]), steps["palette-attach"]
    assert any("ctask: Show Changes" in row for row in steps["palette-changes"]["rows"]), steps["palette-changes"]
    # The ctask view: the task with its state, then its changed file, which opened the diff editor.
    view = steps["view"]
    row = next(r for r in view["tasks"] if r["label"] == task)
    assert row["description"].startswith("ended"), view
    assert {"label": "result.txt", "description": "added"}.items() <= next(
        r for r in view["expanded"] if r["label"] == "result.txt"
    ).items(), view
    assert (view["diffTab"] or "").startswith(f"result.txt ({task}: checkpoint 1 ↔ now)"), view
    assert steps["restarted"]["text"] == f"{task}: ended +1 ~0 -0", steps["restarted"]

    # What the editor showed is what the core recorded.
    summary = env.summary(task)
    assert summary is not None
    assert summary["session_ownership"] == "owned"
    assert summary["end_reason"] == "agent_exited"
    assert summary["added"] == ["result.txt"]
    assert env.lease(task) is None

    # New Task from This Repository: the branch box defaulted to ctask/NAME; the agent ran in the
    # task's worktree of the open folder's repository, on that branch; the tooltip showed it.
    assert steps["repo-input-box"]["title"] == "ctask: New Task from This Repository", steps["repo-input-box"]
    assert f"ctask/{REPO_TASK}" in steps["branch-box"]["prompt"], steps["branch-box"]
    assert f"{REPO_TASK}: owned" in steps["repo-owned"]["text"], steps["repo-owned"]
    assert f"branch ctask/{REPO_TASK}" in steps["repo-tooltip"]["text"], steps["repo-tooltip"]
    assert str(project) in steps["repo-tooltip"]["text"], steps["repo-tooltip"]
    status = env.json("status", REPO_TASK)
    assert status["repo"]["path"] == str(project) and status["repo"]["branch"] == f"ctask/{REPO_TASK}", status
    worktree = Path(status["repo"]["worktree"])
    assert worktree.parent == env.tree(REPO_TASK), status
    branch = tools.run(["git", "-C", str(worktree), "branch", "--show-current"], env=env.vars, timeout=30)
    assert branch.stdout.strip() == f"ctask/{REPO_TASK}", branch
    repo_summary = retry_until(lambda: env.summary(REPO_TASK), seconds=10)
    assert repo_summary["git"]["branch"] == f"ctask/{REPO_TASK}", repo_summary
    assert {"status": "M", "path": "result.txt"} in repo_summary["git"]["uncommitted"], repo_summary["git"]
    changed = f"{worktree.name}/result.txt"
    assert repo_summary["modified"] == [changed], repo_summary

    # Review (SPEC 3.13): Show Changes opened VS Code's diff editor, the session's start checkpoint against
    # the file the agent changed; the editor title's Revert button asked, then put the file back.
    assert any(changed in row for row in steps["review-changes"]["files"]), steps["review-changes"]
    shown = steps["review-diff"]
    assert shown["original"].strip() == "initial" and shown["modified"].strip() == "done", shown
    assert any(tab.startswith(f"result.txt ({REPO_TASK}: checkpoint 1 ↔ now)") for tab in shown["tabs"]), shown
    assert shown["button"].startswith("Revert File to Checkpoint"), shown
    modal = steps["review-modal"]
    assert f"Put {changed} of task {REPO_TASK} back as it was at checkpoint 1?" in modal["message"], modal
    assert sorted(modal["buttons"]) == ["Cancel", "Revert"], modal
    reverted = steps["review-reverted"]
    assert reverted["message"].startswith(f"ctask: {changed} of task {REPO_TASK} restored as at checkpoint 1"), reverted
    assert reverted["buttons"] == ["Undo"], reverted
    assert (steps["review-after"]["modified"] or "").strip() == "initial", steps["review-after"]
    assert (worktree / "result.txt").read_text() == "initial\n"
    sources = [cp["source"] for cp in env.json("checkpoints", REPO_TASK)]
    assert sources[0] == "start" and sources[-1] == "revert", sources  # the tree as the agent left it, kept
    events = [json.loads(line) for line in (env.task_dir(REPO_TASK) / "events.jsonl").read_text().splitlines()]
    assert [e for e in events if e["event"] == "reverted"][-1]["paths"] == [changed], events
    retry_until(lambda: env.tmux_sessions() == [], seconds=10)
    for shot in steps["done"]["screenshots"]:
        assert Path(shot).stat().st_size > 10_000, shot
        print(f"screenshot: {shot}")


def _write_remote_lease(env: Env, name: str, host: str, pid: int) -> None:
    """A well-formed lease of another host with a fresh heartbeat (SPEC 2, lease.yaml)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lease = {
        "schema": 1,
        "session_id": f"{host}-{pid}-{int(time.time())}",
        "host": host,
        "pid": pid,
        "agent": "python",
        "mode": "persistent",
        "tmux_session": f"ctask-{name}",
        "started_at": now,
        "heartbeat_at": now,
        "owner": "cli",
    }
    (env.task_dir(name) / "lease.yaml").write_text(yaml.safe_dump(lease, sort_keys=False))


@pytest.mark.timeout(1500)
def test_attach_to_a_task_another_host_holds_asks_in_a_modal_and_adopts(
    env: Env, agent: list[str], code_server: CodeServer
) -> None:
    task = "remote-task"
    # A lease stays fresh for a minute: long enough to answer the question.
    env.write_config({"stale_after": 60})
    launched = env.run("new", task, "--detach", "--agent", agent[0], "--", agent[1], "print=working", "wait=go")
    assert launched.returncode == 0, launched.stderr
    _write_remote_lease(env, task, "other-host", 4242)
    url = code_server.start(env.tree(task))

    def release_agent(output: str) -> None:
        # Once the terminal showed the session, let the agent finish.
        if '"step":"terminal"' in output and not (env.tree(task) / "go").exists():
            (env.tree(task) / "go").write_text("")

    drive = code_server.drive("adopt-remote", url, task, "--terminal-text", "working", on_tick=release_agent)
    steps = code_server.check(drive)

    remote = steps["remote"]
    assert remote["text"].startswith(f"{task}: on other-host"), remote  # then the activity of its pane here
    assert remote["background"] not in ("", "rgba(0, 0, 0, 0)"), f"no warning colour: {remote}"
    assert "host other-host" in steps["tooltip"]["text"] and "pid 4242" in steps["tooltip"]["text"], steps["tooltip"]
    assert any(task in row and "on other-host" in row for row in steps["picker"]["rows"]), steps["picker"]
    modal = steps["modal"]
    assert modal["modal"] is True, modal
    assert sorted(modal["buttons"]) == ["Adopt", "Cancel"], modal  # their order is the platform's
    assert "other-host pid 4242" in modal["message"], modal
    adopted = steps["adopted"]
    assert adopted["text"].startswith(f"{task}: owned"), adopted  # then the agent's activity
    assert adopted["background"] in ("", "rgba(0, 0, 0, 0)"), adopted
    assert "working" in steps["terminal"]["text"], steps["terminal"]
    assert steps["ended"]["text"].startswith(f"{task}: ended"), steps["ended"]

    summary = env.summary(task)
    assert summary is not None
    assert summary["session_ownership"] == "adopted"
    assert env.lease(task) is None
    for shot in steps["done"]["screenshots"]:
        print(f"screenshot: {shot}")


@pytest.mark.timeout(1500)
def test_needs_input_shows_in_the_status_bar_and_a_notification_attaches(
    env: Env, tmp_path: Path, code_server: CodeServer
) -> None:
    """SPEC 3.10: the agent's PermissionRequest hook makes the item warn and a notification offer Attach."""
    task = "ask-vscode"
    agent = hook_agent(tmp_path)
    steps = [
        "conv=conv-vs",
        "event=UserPromptSubmit",
        "print=the agent asks",
        "wait=ask",
        "event=PermissionRequest:Bash",
        "wait=approve",
        "event=Stop",
        "wait=quit",
    ]
    launched = env.run("new", task, "--detach", "--agent", agent[0], "--", agent[1], *steps)
    assert launched.returncode == 0, launched.stderr
    url = code_server.start(env.tree(task))

    def let_on(output: str) -> None:
        # The driver reports a step; the agent goes on to its next hook.
        for step, gate in (("working", "ask"), ("terminal", "approve"), ("idle", "quit")):
            if f'"step":"{step}"' in output and not (env.tree(task) / gate).exists():
                (env.tree(task) / gate).write_text("")

    drive = code_server.drive("needs-input", url, task, "--terminal-text", "the agent asks", on_tick=let_on)
    steps_seen = code_server.check(drive)

    working = steps_seen["working"]
    assert working["text"] == f"{task}: owned · working", working
    waiting = steps_seen["needs-input"]
    assert waiting["text"] == f"{task}: needs input", waiting
    assert waiting["label"] == f"ctask task {task}: owned, agent needs input", waiting
    assert waiting["background"] not in ("", "rgba(0, 0, 0, 0)"), f"no warning colour: {waiting}"
    toast = steps_seen["notification"]
    assert toast["message"] == f"ctask: task {task} needs your input (permission to use Bash)", toast
    assert toast["buttons"] == ["Attach", "Show Changes"], toast
    assert "permission to use Bash" in steps_seen["tooltip"]["text"], steps_seen["tooltip"]
    assert "the agent asks" in steps_seen["terminal"]["text"], steps_seen["terminal"]
    idle = steps_seen["idle"]
    assert idle["text"] == f"{task}: owned · idle", idle
    assert idle["background"] in ("", "rgba(0, 0, 0, 0)"), idle
    assert steps_seen["ended"]["text"].startswith(f"{task}: ended"), steps_seen["ended"]

    summary = env.summary(task)
    assert summary is not None
    assert summary["session_ownership"] == "adopted"
    assert env.json("status", task)["conversation_id"] == "conv-vs"
    for shot in steps_seen["done"]["screenshots"]:
        assert Path(shot).stat().st_size > 10_000, shot
        print(f"screenshot: {shot}")


@pytest.mark.timeout(900)
def test_without_ctask_ls_one_notification_says_how_to_install(env: Env, code_server: CodeServer) -> None:
    """A window on a task's tree starts the server at once; with ``ctask.server.command`` naming nothing, one
    warning says how to install it (once per machine: a reloaded window says nothing again), the status bar says
    why on hover, and the palette hides what cannot work."""
    env.bare_task("t1")
    env.tree("t1").mkdir(exist_ok=True)
    settings = code_server.user_data / "User" / "settings.json"
    settings.write_text(json.dumps({**USER_SETTINGS, "ctask.server.command": "ctask-ls-not-installed"}))
    url = code_server.start(env.tree("t1"))
    steps = code_server.check(code_server.drive("not-installed", url, "t1"))

    toast = steps["notification"]
    assert "ctask: the ctask language server is not installed" in toast["message"], toast
    assert "install the ctask-ls Python package (How to Install)" in toast["message"], toast
    assert '"ctask-ls-not-installed" is not on PATH' in toast["message"], toast
    assert toast["buttons"] == ["How to Install", "Open Settings"], toast
    assert steps["item"]["label"] == "ctask: server not running", steps["item"]
    assert not any("ctask: New Task" in row for row in steps["palette-new"]["rows"]), steps["palette-new"]
    assert any("ctask: Restart Server" in row for row in steps["palette-restart"]["rows"]), steps["palette-restart"]
    after = steps["after-reload"]
    assert after["item"]["label"] == "ctask: server not running", after
    assert not any("not installed" in text for text in after["toasts"]), after
    assert env.lease("t1") is None  # nothing was adopted or started
    for shot in steps["done"]["screenshots"]:
        print(f"screenshot: {shot}")


@pytest.mark.timeout(1500)
def test_real_claude_needs_input_shows_in_the_status_bar(env: Env, tmp_path: Path, code_server: CodeServer) -> None:
    """SPEC 3.10 with the real Claude Code (offline, against the scripted Messages API): launched by the CLI,
    adopted by the window on its tree; a prompt typed into its pane makes the item say working, the model's
    Bash call shows the permission dialog and the item warns "needs input" with a notification whose Attach
    opens the terminal; approved, the turn ends idle; stopped, the item changes."""
    from tests.agents import real_agent
    from tests.agents.fake_anthropic import FakeAnthropic
    from tests.test_real_claude import KEY, PROMPT_MARK, approve, keys, prepare_home

    task = "t1"  # the helpers of tests/test_real_claude.py act on task t1
    claude = real_agent("claude")
    prepare_home(env, tmp_path / "hooks.jsonl")
    with FakeAnthropic() as api:
        api.gate.clear()  # the Bash call waits until the item has shown the turn working
        env.vars.update(ANTHROPIC_BASE_URL=api.url, ANTHROPIC_API_KEY=KEY)
        code_server.vars.update(ANTHROPIC_BASE_URL=api.url, ANTHROPIC_API_KEY=KEY)
        launched = env.run("new", task, "--detach", "--agent", str(claude), "--", "--permission-mode", "manual")
        assert launched.returncode == 0, launched.stderr
        url = code_server.start(env.tree(task))
        done: set[str] = set()

        def act(output: str) -> None:
            """What a user does as the window shows each state (the driver reports them)."""
            screen = env.tmux("capture-pane", "-p", "-t", f"=ctask-{task}:").stdout
            if "typed" not in done and '"step":"server-ready"' in output and PROMPT_MARK in screen:
                done.add("typed")
                keys(env, "run the command", literal=True)
                time.sleep(0.3)  # typed text and Enter in one burst would be taken for a paste
                keys(env, "Enter")
            if "gate" not in done and '"step":"working"' in output and api.of_kind("tool_use", answered=False):
                done.add("gate")
                api.gate.set()
            if "approved" not in done and '"step":"terminal"' in output:
                done.add("approved")
                approve(env)
            if "stopped" not in done and '"step":"idle"' in output:
                done.add("stopped")
                assert env.run("stop", task).returncode == 0

        drive = code_server.drive("needs-input", url, task, "--terminal-text", "Do you want to proceed?", on_tick=act)
        steps = code_server.check(drive)

    assert steps["working"]["text"] == f"{task}: owned · working", steps["working"]
    waiting = steps["needs-input"]
    assert waiting["text"] == f"{task}: needs input", waiting
    assert waiting["background"] not in ("", "rgba(0, 0, 0, 0)"), f"no warning colour: {waiting}"
    toast = steps["notification"]
    assert toast["message"] == f"ctask: task {task} needs your input (permission to use Bash)", toast
    assert toast["buttons"] == ["Attach", "Show Changes"], toast
    assert steps["terminal"]["found"] is True, steps["terminal"]  # Claude Code's own dialog, in the terminal
    assert steps["idle"]["text"] == f"{task}: owned · idle", steps["idle"]
    assert steps["ended"]["text"].startswith(f"{task}: ended"), steps["ended"]
    assert (env.tree(task) / "proof.txt").read_text() == "hi\n"
    summary = env.summary(task)
    assert summary is not None and summary["session_ownership"] == "adopted", summary
    assert summary["end_reason"] == "stopped", summary
    for shot in steps["done"]["screenshots"]:
        print(f"screenshot: {shot}")


@pytest.fixture
def two_hosts(tmp_path: Path) -> t.Iterator[Network]:
    """host1 and host2 of tests/remote: network namespaces with real sshd, closed at the end."""
    need_hosts()
    net = Network(tmp_path / "net", 2)
    try:
        yield net.start()
    finally:
        net.close()


@pytest.mark.timeout(1500)
def test_hosts_are_grouped_attached_over_ssh_and_one_dying_is_said(
    env: Env, code_server: CodeServer, two_hosts: Network
) -> None:
    """SPEC 10 in the real VS Code: ``ctask.hosts`` names two simulated hosts (network namespaces with real sshd,
    tests/remote); the extension reaches each host's ctask-ls with the real ssh; the view groups the tasks by host;
    Attach on host1's task is a terminal on ``ssh -t`` onto its tmux session; host2 killed, its row says
    unreachable while host1's task stays."""
    net = two_hosts
    for host, name in (("host1", "r1"), ("host2", "r2")):
        made = net.ctask("--host", host, "new", name, "--detach", "--agent", "bursty")
        assert made.returncode == 0, made.stderr
    (net.host("host1").env.tree("r1") / "notes.txt").write_text("written on host1\n")  # no such file here
    settings = code_server.user_data / "User" / "settings.json"
    settings.write_text(json.dumps({**json.loads(settings.read_text()), "ctask.hosts": ["host1", "host2"]}))
    # The extension's ssh runs in the client's network namespace, with the network's ssh config.
    code_server.vars["CTASK_SSH"] = " ".join([*net.prefix(), "ssh", "-F", str(net.ssh_config)])
    url = code_server.start()

    killed: list[bool] = []

    def kill_host2(output: str) -> None:
        if '"step":"terminal"' in output and not killed:
            killed.append(True)
            net.host("host2").kill()

    drive = code_server.drive(
        "hosts", url, "r1", "--terminal-text", "bursty agent ready", "--file", "notes.txt", on_tick=kill_host2
    )
    steps = code_server.check(drive)
    # host1's changed file in the diff editor: the right side is the file now, read from host1's server.
    assert (steps["remoteDiff"]["tab"] or "").startswith("notes.txt (host1:r1: checkpoint "), steps["remoteDiff"]
    shown = (steps["remoteDiff"]["modified"] or "").replace("\xa0", " ")  # Monaco renders spaces as NBSP
    assert "written on host1" in shown, steps["remoteDiff"]
    rows = {r["label"]: r["description"] for r in steps["grouped"]["rows"]}
    assert rows["local"].startswith("this machine"), rows
    assert rows["host1"] == "1 task" and rows["host2"] == "1 task", rows
    assert rows["r1"].startswith(("owned", "unowned")) and rows["r2"].startswith(("owned", "unowned")), rows
    assert steps["terminal"]["title"] == "ctask: r1" and steps["terminal"]["found"] is True, steps["terminal"]
    after = {r["label"]: r["description"] for r in steps["unreachable"]["rows"]}
    assert after["host2"] == "unreachable" and after["host1"] == "1 task", after
    assert "r1" in after and "r2" not in after, after  # nothing of an unreachable host's tasks is guessed
    assert any(label.startswith("host host2: the connection closed") for label in after), after
    assert net.host("host1").tasks() == ["r1"]
    for shot in steps["done"]["screenshots"]:
        print(f"screenshot: {shot}")
