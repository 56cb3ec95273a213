"""lua/ctask/protocol.lua mirrors ctask_ls/server/protocol.py (names are defined once on each side)."""

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
    assert sorted(res["setting_keys"]) == sorted(SETTINGS)
    assert set(protocol.NOTIFICATIONS) <= set(res["lsp_handlers"])
    assert "window/showMessageRequest" in res["lsp_handlers"]
