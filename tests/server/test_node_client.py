"""The server driven from Node by vscode-jsonrpc, the JSON-RPC library under VS Code's client."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ctask_ls.server import protocol
from tests.helpers import REPO, Env

NODE_DIR = REPO / "tests" / "node"


def _node_modules() -> None:
    """Install the locked vscode-jsonrpc once (``npm ci``) when node_modules is missing."""
    if (NODE_DIR / "node_modules" / "vscode-jsonrpc").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=NODE_DIR,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"npm ci failed in {NODE_DIR}: {proc.stderr}"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_vscode_jsonrpc_client_drives_the_server(env: Env, agent: list[str]) -> None:
    _node_modules()
    go = env.root / "go"
    proc = subprocess.run(
        ["node", str(NODE_DIR / "client.mjs")],
        cwd=NODE_DIR,
        env={
            **env.vars,
            "CTASK_LS_PYTHON": sys.executable,
            "CTASK_TEST_AGENT": agent[1],
            "CTASK_TEST_GO": str(go),
            "CTASK_TEST_COMMANDS": json.dumps(list(protocol.COMMANDS)),
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(result["commands"]) == sorted(protocol.COMMANDS)
    assert result["lease"]["lease"]["state"] == "fresh_local"  # the ctask/leaseState and, in it, the lease
    assert result["lease"]["owned_here"] is True
    assert result["live"] == ["n.txt"]
    assert result["errorKind"] == "InvalidName"
    assert result["endReason"] == "agent_exited"
    assert result["added"] == ["n.txt"]
    assert result["exitCode"] == 0
    assert Path(env.task_dir("node1")).is_dir()
    assert env.tmux_sessions() == []
