"""The install a user makes: a wheel built from this repository, installed with pipx, run from the pipx venv.

One module fixture builds the wheel (``pip wheel`` of a copy of the repository, so no ``build/`` directory of
an earlier build can slip stale files into it) and installs it with ``pipx`` into a private ``PIPX_HOME`` and
``PIPX_BIN_DIR``: a clean virtual environment whose dependencies pip fetches from the package index, with
neither this repository nor the test venv on its path.  The tests then check the wheel's contents and run the
installed ``ctask --version``, ``ctask demo`` and ``ctask-ls --stdio`` (initialize, a command, shutdown, exit)
the way a user would, from a directory outside the repository, with :class:`tests.helpers.Env`'s private
home, XDG directories, ctask home and tmux socket.

pipx comes from the ``test`` extra.  Without it, or without a reachable package index, the tests skip and
say why; under CI (``CI=true``) or ``CTASK_INSTALL=required`` (set by scripts/test-all) they fail instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import queue
import shlex
import shutil
import ssl
import subprocess
import sys
import threading
import time
import tomllib
import typing as t
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.helpers import BIN, REPO, Env

pytestmark = pytest.mark.timeout(300)  # about 25 s here; pip fetching from the index on a busy machine takes longer

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
VERSION: str = PYPROJECT["project"]["version"]
SCRIPTS: dict[str, str] = PYPROJECT["project"]["scripts"]
REQUIRED = "CTASK_INSTALL"
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".*_cache", ".hypothesis"
)


def _unavailable(why: str) -> t.NoReturn:
    """Skip, saying why; fail instead under CI or ``CTASK_INSTALL=required``."""
    if os.environ.get("CI", "").lower() in ("true", "1") or os.environ.get(REQUIRED) == "required":
        pytest.fail(f"{why} (CI or {REQUIRED}=required: this test must run)")
    pytest.skip(why)


def _index_url() -> str:
    """The index pip fetches from: ``$PIP_INDEX_URL``, else ``index-url`` of pip's configuration, else PyPI."""
    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        listed = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60, check=False
        )
        for line in listed.stdout.splitlines():  # global.index-url='https://mirror.example/simple'
            key, _, value = line.partition("=")
            if key.endswith(".index-url"):
                url = value.strip().strip("'\"")
                break
    return (url or "https://pypi.org/simple").rstrip("/") + "/"


def _index_problem() -> str | None:
    """Why pip cannot fetch from its package index (None: it can), asked as pip would: proxies, certificates."""
    url = _index_url()
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return None
    context = ssl.create_default_context(cafile=os.environ.get("PIP_CERT") or None)
    try:
        with urllib.request.urlopen(url + "pip/", timeout=15, context=context) as response:
            response.read(1)
    except OSError as exc:  # URLError, timeouts and certificate errors are all OSErrors
        return f"cannot reach the package index {url} ({exc}): pipx installs the wheel's dependencies from it"
    return None


def _run(argv: t.Sequence[str], *, env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclasses.dataclass(frozen=True)
class Installed:
    wheel: Path
    source: Path
    """The copy of the repository the wheel was built from."""
    bin_dir: Path
    """``PIPX_BIN_DIR``: where pipx put ``ctask`` and ``ctask-ls``."""
    venv: Path
    """The virtual environment pipx made for ctask-ls."""
    outside: Path
    """A directory outside the repository to run the commands from."""

    def user_env(self, env: Env) -> dict[str, str]:
        """``env``'s private home, XDG dirs, config and tmux socket; PATH with pipx's bin dir, without the test
        venv; no PYTHONPATH (it would put this repository on the installed interpreter's path)."""
        theirs = [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep) if p and Path(p) != BIN]
        user = {k: v for k, v in env.vars.items() if k != "PYTHONPATH"}
        user["PATH"] = os.pathsep.join([str(self.bin_dir), *theirs])
        user["TMPDIR"] = str(env.sock_dir)  # the demo's private tmux socket path must stay short
        return user


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    if importlib.util.find_spec("pipx") is None:
        _unavailable(f"pipx is not installed in {sys.prefix}: pip install -e '.[test]'")
    problem = _index_problem()
    if problem:
        _unavailable(problem)
    root = tmp_path_factory.mktemp("install")

    source = root / "src"
    shutil.copytree(REPO, source, ignore=COPY_IGNORE, symlinks=True)
    dist = root / "dist"
    started = time.monotonic()
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w", str(dist), "."],
        env=os.environ.copy(),
        cwd=source,
        timeout=240,
    )
    print(f"pip wheel: {time.monotonic() - started:.1f}s")
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = dist.glob("ctask_ls-*.whl")

    pipx_home, bin_dir = root / "pipx", root / "bin"
    pipx_env = {
        **os.environ,
        "PIPX_HOME": str(pipx_home),
        "PIPX_BIN_DIR": str(bin_dir),
        "PIPX_MAN_DIR": str(root / "man"),
        "USE_EMOJI": "0",
        "PIP_DEFAULT_TIMEOUT": "30",  # a lost network fails within a minute, not after retries of 180 s
        "PIP_RETRIES": "2",
    }
    for key in ("PYTHONPATH", "VIRTUAL_ENV", "PIPX_DEFAULT_PYTHON", "PIPX_SHARED_LIBS", "PIPX_GLOBAL_HOME"):
        pipx_env.pop(key, None)
    pip_args = ["--disable-pip-version-check"]
    cache = _run([sys.executable, "-m", "pip", "cache", "dir"], env=os.environ.copy(), cwd=root, timeout=60)
    if cache.returncode == 0 and cache.stdout.strip():
        pip_args.append(f"--cache-dir={cache.stdout.strip()}")  # the test venv's pip cache: no download twice
    started = time.monotonic()
    pipx = _run(
        [sys.executable, "-m", "pipx", "install", f"--pip-args={shlex.join(pip_args)}", str(wheel)],
        env=pipx_env,
        cwd=root,
        timeout=240,
    )
    print(f"pipx install: {time.monotonic() - started:.1f}s")
    assert pipx.returncode == 0, pipx.stdout + pipx.stderr
    assert f"installed package ctask-ls {VERSION}" in pipx.stdout, pipx.stdout
    outside = root / "elsewhere"
    outside.mkdir()
    return Installed(wheel, source, bin_dir, pipx_home / "venvs" / "ctask-ls", outside)


def test_the_wheel_holds_the_whole_package_both_commands_and_the_license(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        dist_info = f"ctask_ls-{VERSION}.dist-info"
        metadata = wheel.read(f"{dist_info}/METADATA").decode()
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
        license_text = wheel.read(f"{dist_info}/licenses/LICENSE")
    package = installed.source / "ctask_ls"
    wanted = {
        p.relative_to(installed.source).as_posix()
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert wanted - names == set(), "files of the package missing from the wheel"
    assert "ctask_ls/demo/agent.py" in names and "ctask_ls/core/hook.py" in names
    assert {n.split("/")[0] for n in names} == {"ctask_ls", dist_info}, "nothing but the package and its metadata"
    for script, target in SCRIPTS.items():
        assert f"{script} = {target}" in entry_points
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata
    assert license_text == (REPO / "LICENSE").read_bytes()
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = requirement.split("#")[0].split(">")[0].split("<")[0].split("=")[0].strip()
        assert f"Requires-Dist: {name}" in metadata


def test_pipx_installs_ctask_and_ctask_ls_running_from_their_own_venv(installed: Installed, env: Env) -> None:
    assert sorted(p.name for p in installed.bin_dir.iterdir()) == sorted(SCRIPTS)
    user = installed.user_env(env)
    version = _run(["ctask", "--version"], env=user, cwd=installed.outside, timeout=60)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith(f"ctask {VERSION} "), version.stdout
    server_version = _run(["ctask-ls", "--version"], env=user, cwd=installed.outside, timeout=60)
    assert server_version.returncode == 0, server_version.stderr
    assert server_version.stdout.strip() == f"ctask-ls {VERSION}"
    # The interpreter the installed command runs (its #! line) imports ctask_ls from pipx's venv, not from here.
    shebang = (installed.bin_dir / "ctask").read_text().splitlines()[0]
    python = shlex.split(shebang.removeprefix("#!"))[0]  # pip may add options: "#!/.../bin/python -E"
    assert Path(python).is_relative_to(installed.venv), shebang
    probe = _run(
        [python, "-c", "import ctask_ls, sys; print(ctask_ls.__file__); print(sys.prefix)"],
        env=user,
        cwd=installed.outside,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    module, prefix = probe.stdout.split()
    assert Path(module).is_relative_to(installed.venv), module
    assert not Path(module).resolve().is_relative_to(REPO)
    assert Path(prefix) == installed.venv


def test_the_installed_demo_runs_its_agent_in_tmux_and_leaves_nothing_behind(installed: Installed, env: Env) -> None:
    demo = _run(["ctask", "demo", "--seconds", "2"], env=installed.user_env(env), cwd=installed.outside, timeout=120)
    assert demo.returncode == 0, demo.stderr + demo.stdout
    out = demo.stdout
    assert "lease fresh_local owner cli pid" in out
    assert "agent exited; lease now missing, tmux session gone: True" in out
    assert "agent_exited (exit status 0)" in out
    for line in ("added 2, modified 1, deleted 1", "+ NOTES.md", "+ src/greet.py", "~ README.txt", "- build.log"):
        assert line in out, line
    assert out.rstrip().endswith("demo finished: nothing left running.")
    assert [p.name for p in env.sock_dir.iterdir() if p.name.startswith("ctask-demo-")] == []
    assert list(installed.outside.iterdir()) == []


class _Stdio:
    """A JSON-RPC peer over a process's stdin/stdout with LSP framing; a thread reads what the server sends."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc, self._in, self._out = proc, proc.stdin, proc.stdout
        self.messages: queue.Queue[dict[str, t.Any] | None] = queue.Queue()
        threading.Thread(target=self._read, name="ctask-ls-stdout", daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                length = None
                while line := self._out.readline():
                    if line in (b"\r\n", b"\n"):
                        break
                    key, _, value = line.decode("ascii").partition(":")
                    if key.strip().lower() == "content-length":
                        length = int(value)
                if length is None:
                    return
                self.messages.put(json.loads(self._out.read(length)))
        finally:
            self.messages.put(None)

    def send(self, message: dict[str, t.Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self._in.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self._in.flush()

    def request(self, msg_id: int, method: str, params: t.Any = None) -> dict[str, t.Any]:
        """Send a request; its response (whatever the server says before it is put aside)."""
        self.send({"id": msg_id, "method": method, "params": params})
        deadline = time.monotonic() + 30
        while True:
            message = self.messages.get(timeout=max(0.1, deadline - time.monotonic()))
            assert message is not None, f"ctask-ls closed its stdout before answering {method}"
            if message.get("id") == msg_id and "method" not in message:
                return message
            if "id" in message and "method" in message:  # a request of the server's: answer it as a client would
                self.send({"id": message["id"], "result": None})


def test_the_installed_server_initializes_runs_a_command_and_exits_cleanly(installed: Installed, env: Env) -> None:
    proc = subprocess.Popen(
        ["ctask-ls", "--stdio"],
        env=installed.user_env(env),
        cwd=installed.outside,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        peer = _Stdio(proc)
        init = peer.request(
            1,
            "initialize",
            {"processId": os.getpid(), "rootUri": None, "capabilities": {}, "clientInfo": {"name": "test_install"}},
        )
        assert "error" not in init, init
        result = init["result"]
        assert result["serverInfo"]["name"] == "ctask-ls"
        commands = result["capabilities"]["executeCommandProvider"]["commands"]
        for command in ("ctask.new", "ctask.list", "ctask.status", "ctask.stop", "ctask.diff", "ctask.remove"):
            assert command in commands
        peer.send({"method": "initialized", "params": {}})
        listed = peer.request(2, "workspace/executeCommand", {"command": "ctask.list", "arguments": []})
        assert listed.get("result") == [], listed  # a fresh home: no task yet
        shutdown = peer.request(3, "shutdown")
        assert "error" not in shutdown and shutdown["result"] is None, shutdown
        peer.send({"method": "exit"})
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode(errors="replace")
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
    assert "Traceback" not in stderr, stderr
