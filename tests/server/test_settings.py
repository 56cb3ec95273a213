"""Settings from the editor, ``$/progress`` for large captures, warnings on ``window/logMessage``."""

from __future__ import annotations

import asyncio
import sys
import typing as t

from lsprotocol import types

from ctask_ls.server import protocol as p
from ctask_ls.server import settings
from tests.helpers import Env, retry_until
from tests.server.conftest import Start, new_args


async def test_invalid_settings_are_reported_and_defaults_used(lsp: Start, env: Env, agent_py: str) -> None:
    s = await lsp(
        init={
            "ctask": {
                "pollInterval": "fast",
                "autoAdopt": "yes",
                "agent": {"command": 7},
                "bogus": 1,
                "server": {"command": "ctask-ls"},  # the editor's own setting: ignored quietly
                "staleAfter": 60,
            }
        }
    )
    shown = await asyncio.to_thread(retry_until, lambda: s.shown(), 5)
    assert len(shown) == 1
    for word in ("pollInterval", "autoAdopt", "agent.command", "bogus"):
        assert word in shown[0]
    assert "'server'" not in shown[0]
    # defaults for the bad ones, the good one applied, and the server works
    go = env.root / "go"
    result = await s.command(p.NEW, new_args("t1", agent_py, f"wait={go}"))
    assert result["action"] == "launched"
    go.write_text("")
    await s.wait_for(p.SESSION_ENDED, name="t1")


async def test_did_change_configuration_applies_home_and_agent(lsp: Start, env: Env, agent_py: str) -> None:
    other = env.root / "other-home"
    cli = ["new", "elsewhere", "--agent", sys.executable, "--", agent_py, "sleep=1"]
    done = await asyncio.to_thread(env.run, *cli, env={"CTASK_HOME": str(other)})
    assert done.returncode == 0, done.stderr
    s = await lsp(client="neovim", init={"ctask": {"agent": {"command": "no-such-x"}}})
    assert await s.command(p.LIST, {}) == []

    # layered: the config file < initializationOptions < didChangeConfiguration
    s.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"ctask": {"home": str(other)}})
    )
    note = await s.lease("elsewhere", lambda n: True, timeout=2.0)
    assert note.params["workspace"] == str(other / "tasks" / "elsewhere" / "work")
    assert [x["name"] for x in await s.command(p.LIST, {})] == ["elsewhere"]
    err = await s.error(p.NEW, {"name": "t2"})
    assert err.kind == "AgentNotFound"
    assert "no-such-x" in err.message

    # an invalid change is reported and ignored; it replaces the previous change (home reverts)
    s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"ctask": {"home": 5}}))
    await asyncio.to_thread(retry_until, lambda: any("home must be a path" in m for m in s.shown()), 5)
    gone = await s.lease("elsewhere", lambda n: n.get("removed") is True, timeout=2.0)
    assert gone.params["lease"]["state"] == "missing"
    assert await s.command(p.LIST, {}) == []
    assert "no-such-x" in (await s.error(p.NEW, {"name": "t3"})).message  # initializationOptions still apply


def test_settings_map_camel_case_onto_the_core_config(env: Env) -> None:
    base, problems = settings.base_config(env.vars)
    assert problems == []
    config, problems = settings.overlay(
        base,
        {"heartbeatInterval": 2, "staleAfter": 20, "pollInterval": 0.5, "lockTimeout": 1, "autoAdopt": False},
    )
    assert problems == []
    assert (config.heartbeat_interval, config.stale_after, config.poll_interval) == (2.0, 20.0, 0.5)
    assert (config.lock_timeout, config.auto_adopt) == (1.0, False)
    config, problems = settings.overlay(base, {"staleAfter": 0.1})
    assert problems == ["staleAfter must be larger than heartbeatInterval"]
    assert config.stale_after == base.stale_after
    assert settings.overlay(base, "nonsense")[1] == ["settings must be an object like {'ctask': {...}}"]
    assert settings.overlay(base, {"ctask": None}) == (base, [])


def test_a_broken_config_file_is_reported_not_fatal(env: Env) -> None:
    env.config_path.write_text("heartbeat_interval: [")
    config, problems = settings.base_config(env.vars)
    assert len(problems) == 1
    assert "not valid YAML" in problems[0]
    assert config.home == env.ctask_home
    assert config.tmux_socket == env.socket


async def test_a_large_manifest_capture_reports_progress(lsp: Start, env: Env, agent_py: str) -> None:
    s = await lsp(client="visual-studio-code")
    go = env.root / "go"
    await s.command(p.NEW, new_args("big", agent_py, f"wait={go}"))
    many = env.tree("big") / "many"
    many.mkdir()
    for i in range(6000):
        (many / f"f{i}").write_bytes(b"")
    diff = await s.command(p.DIFF, {"name": "big"})
    assert diff["counts"]["added"] == 6000

    def finished() -> list[list[t.Any]]:
        return [r for r in s.client.progress_reports.values() if r and isinstance(r[-1], types.WorkDoneProgressEnd)]

    reports = (await asyncio.to_thread(retry_until, finished, 5))[0]
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert "big" in reports[0].title
    assert any(isinstance(r, types.WorkDoneProgressReport) and "files" in (r.message or "") for r in reports)
    go.write_text("")
    ended = await s.wait_for(p.SESSION_ENDED, name="big")
    assert ended.params["summary"]["counts"]["added"] == 6000


def test_lock_timeout_from_the_editor_reaches_the_heartbeats(env: Env) -> None:
    """In process: the heartbeats' lock timeout follows the settings, not only the start-up config."""
    from ctask_ls.server.server import CtaskServer

    server = CtaskServer(env.vars)
    try:
        assert server.core.heartbeats.lock_timeout == 5  # FAST_CONFIG's
        server.apply_settings({"ctask": {"lockTimeout": 1.5}}, "workspace/didChangeConfiguration")
        assert server.core.config.lock_timeout == 1.5
        assert server.core.heartbeats.lock_timeout == 1.5
    finally:
        server.requests.shutdown()
        server.background.shutdown()


# -- the one settings model (ctask_ls.core.config.Config), read by cattrs ---------------------------

SAMPLES: dict[str, object] = {"number": 2.5, "boolean": False, "string": "claude", "object": {"command": "claude"}}
"""A valid value of each JSON type, for settings that accept that type."""


def test_every_type_the_protocol_advertises_for_a_setting_is_accepted(env: Env) -> None:
    """The clients are generated from protocol.SETTINGS: each type it names must really be accepted.

    (Neovim documented ``settings.agent = "aider"`` while the server refused a string.)
    """
    base, _ = settings.base_config(env.vars)
    for setting in p.SETTINGS:
        for kind in setting.types:
            value = str(env.root) if setting.name == "home" else SAMPLES[kind]
            _config, problems = settings.overlay(base, {"ctask": {setting.name: value, "staleAfter": 60}})
            assert problems == [], (setting.name, kind, problems)


def test_agent_may_be_a_command_alone_in_editor_settings_and_config_yaml(env: Env) -> None:
    env.config_path.write_text("agent: {command: claude, args: [--yes]}\n")
    base, problems = settings.base_config(env.vars)
    assert problems == []
    config, problems = settings.overlay(base, {"ctask": {"agent": "aider"}})
    assert problems == []
    assert (config.agent.command, config.agent.args) == ("aider", ("--yes",))  # as {command: "aider"}
    env.config_path.write_text("agent: aider\n")
    config, problems = settings.base_config(env.vars)
    assert problems == []
    assert config.agent.command == "aider"
    _config, problems = settings.overlay(base, {"ctask": {"agent": 7}})
    assert problems == ["agent must be a command or a mapping {command, args, env}"]


def test_numbers_must_be_finite_and_positive_and_bad_values_keep_the_default(env: Env) -> None:
    base, _ = settings.base_config(env.vars)
    raw = {"heartbeatInterval": float("inf"), "pollInterval": float("nan"), "lockTimeout": -1, "staleAfter": True}
    config, problems = settings.overlay(base, raw)
    assert problems == [
        "heartbeatInterval must be a number of seconds from 0.01 to 3600",
        "pollInterval must be a number of seconds from 0.01 to 3600",
        "lockTimeout must be a number of seconds from 0.01 to 3600",
        "staleAfter must be a number of seconds from 0.01 to 86400",
    ]
    assert config == base
    env.config_path.write_text("poll_interval: .inf\n")
    config, problems = settings.base_config(env.vars)
    bad = "poll_interval must be a number of seconds from 0.01 to 3600"
    assert problems == [f"config {env.config_path}: {bad}; fix the file or remove the key; using the default settings"]
    assert config.poll_interval == 1.0
