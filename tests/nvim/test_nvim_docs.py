"""doc/ctask.txt documents every subcommand, option and Lua function with a help tag."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from tests.nvim.conftest import Nvim


def test_help_has_a_tag_for_every_command_option_and_function(nvim: Nvim) -> None:
    run = nvim.run("docs.lua")
    assert run.returncode == 0, run.explain()
    res = run.result
    assert res["helptags_error"] is None
    assert res["missing"] == []
    assert ":Ctask-new" in res["expected"]
    assert "ctask-config-terminal.position" in res["expected"]
    assert "ctask-config-settings.autoAdopt" in res["expected"]
    assert "ctask.statusline()" in res["expected"]
