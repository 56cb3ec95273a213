"""Issue 14, "`status --json` and `ctask.list` return agent.env values" (SPEC 9).

``agent.env`` is where a user puts the tokens and API keys an agent needs.
What ctask shows of a task (``list``, ``status``, their ``--json``, and the
server's ``ctask.list`` and ``ctask.status``) names those variables and hides
their values: an editor's task view, a log of ``--json`` output or a shared
screen never holds a secret.  ``ctask status NAME --show-env`` asks for them.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys

import pytest

from tests.helpers import Env
from tests.security import wire
from tests.security.wire import StreamClient

pytestmark = pytest.mark.timeout(120)

HIDDEN = "<hidden>"


def task_with_a_secret(env: Env, agent: list[str]) -> str:
    """Task t1, whose agent.env holds a secret (from config.yaml); its agent waits.  Returns the secret."""
    secret = "sk-" + secrets.token_hex(16)
    env.write_config({"agent": {"command": "sh", "args": [], "env": {"API_KEY": secret}}})
    env.new_detached("t1", agent, "wait=go")
    assert env.task_yaml("t1")["agent"]["env"] == {"API_KEY": secret}, "task.yaml keeps the value for the agent"
    return secret


def stdio_server(env: Env) -> StreamClient:
    """A ``ctask-ls --stdio`` (as an editor starts it), its stdin and stdout one end of a socket pair."""
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ctask_ls", "--stdio"],
        env=env.vars,
        cwd=env.root,
        stdin=theirs.fileno(),
        stdout=theirs.fileno(),
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    theirs.close()
    env.procs.append(proc)  # Env.cleanup kills it
    client = StreamClient(ours)
    answer = client.answer_to(client.request("initialize", wire.initialize(autoAdopt=False)))
    assert "result" in answer, answer
    client.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    return client


def test_status_and_list_show_agent_env_names_not_values(env: Env, agent: list[str]) -> None:
    secret = task_with_a_secret(env, agent)
    for args in (("status", "t1", "--json"), ("list", "--json"), ("status", "t1"), ("list",)):
        proc = env.run(*args, check=True)
        assert secret not in proc.stdout + proc.stderr, f"ctask {' '.join(args)} shows the value"
    (listed,) = env.json("list")
    assert listed["agent"]["env"] == {"API_KEY": HIDDEN}
    assert env.json("status", "t1")["agent"]["env"] == {"API_KEY": HIDDEN}
    assert "API_KEY" in env.run("status", "t1", check=True).stdout
    shown = json.loads(env.run("status", "t1", "--json", "--show-env", check=True).stdout)
    assert shown["agent"]["env"] == {"API_KEY": secret}, "asked for explicitly, the value is shown"


def test_server_list_and_status_show_agent_env_names_not_values(env: Env, agent: list[str]) -> None:
    secret = task_with_a_secret(env, agent)
    client = stdio_server(env)
    try:
        results = {}
        for command, arguments in (("ctask.list", []), ("ctask.status", [{"name": "t1"}])):
            params = {"command": command, "arguments": arguments}
            answer = client.answer_to(client.request("workspace/executeCommand", params))
            assert "result" in answer, answer
            results[command] = answer["result"]
    finally:
        client.close()
    (listed,) = results["ctask.list"]
    assert listed["agent"]["env"] == {"API_KEY": HIDDEN}
    assert results["ctask.status"]["agent"]["env"] == {"API_KEY": HIDDEN}
    everything = json.dumps(client.received)
    assert secret not in everything, "a message of the server holds the value"
