"""doc/ctask.txt documents every subcommand, option and Lua function with a help tag; doc/tags matches it."""

from __future__ import annotations

import typing as t

from tests.nvim import helptags

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


def test_shipped_doc_tags_match_the_help_file(nvim: Nvim) -> None:
    # `:help ctask` works as installed only with doc/tags; regenerate it with
    # `python -m tests.nvim.helptags --write` after editing doc/ctask.txt.
    assert helptags.stale(nvim.binary) == []
