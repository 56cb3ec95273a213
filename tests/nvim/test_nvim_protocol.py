"""lua/ctask/protocol.lua, generated from ctask_ls/protocol, is what the plugin loads and uses."""

from __future__ import annotations

import typing as t

from ctask_ls.server import protocol
from ctask_ls.server.settings import SETTINGS

if t.TYPE_CHECKING:
    from tests.nvim.conftest import Nvim


def test_lua_protocol_mirrors_the_server(nvim: Nvim) -> None:
    run = nvim.run("protocol.lua")
    assert run.returncode == 0, run.explain()
    res = run.result
    assert sorted(res["commands"].values()) == sorted(protocol.COMMANDS)
    assert sorted(res["notifications"].values()) == sorted(protocol.NOTIFICATIONS)
    assert res["adopt_actions"] == {"adopt": protocol.ADOPT, "cancel": protocol.CANCEL}
    assert res["settings_section"] == protocol.SETTINGS_SECTION
    assert res["error_kinds"] == list(protocol.ERROR_KINDS)
    assert sorted(res["git_reasons"]) == sorted(protocol.GIT_REASONS)
    assert sorted(res["setting_keys"]) == sorted(SETTINGS)
    lua_types = {"number": "number", "boolean": "boolean", "string": "string", "object": "table"}
    for setting in protocol.SETTINGS:  # the types the plugin lets through are those the server accepts
        assert res["setting_types"][setting.name] == [lua_types[k] for k in setting.types], setting.name
    assert set(protocol.NOTIFICATIONS) <= set(res["lsp_handlers"])
    assert "window/showMessageRequest" in res["lsp_handlers"]


def test_lease_cache_keeps_the_wire_shape_and_computes_the_heartbeat_age(nvim: Nvim) -> None:
    run = nvim.run("state.lua")
    assert run.returncode == 0, run.explain()
    res = run.result
    assert res["epochs"] == [0, 1735689600, 1735689600, 1709251199, None]
    assert res["changes"] == [True, False, True]  # a heartbeat alone is no change; a new pid is
    assert res["kind"] == "busy"
    assert res["lease"]["pid"] == 4343 and res["lease"]["heartbeat_at"] == "2000-01-01T00:00:10Z"
    assert "reason" not in res["lease"]  # JSON null is dropped
    assert res["age_s"] > 700_000_000  # since 2000, from heartbeat_at: not the 0.1 s the server sent
