"""Installed as a user would: as a Neovim package with :packadd, and with ctask-ls missing."""

from __future__ import annotations

import shutil
import typing as t

from tests.helpers import REPO
from tests.nvim.conftest import PLUGIN

if t.TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers import Env
    from tests.nvim.conftest import Nvim


def test_packadd_loads_help_command_and_server(nvim: Nvim, env: Env, tmp_path: Path) -> None:
    packpath = tmp_path / "site"
    opt = packpath / "pack" / "x" / "opt"
    opt.mkdir(parents=True)
    (opt / "ctask").symlink_to(PLUGIN, target_is_directory=True)
    run = nvim.run("packadd.lua", startup=["--clean", "--cmd", f"set packpath^={packpath}"])
    assert run.returncode == 0, run.explain()
    res = run.result
    assert res["command_before"] == 0
    assert res["module_before"] is False
    assert res["command_after"] == 2
    # :help works from the shipped doc/tags: nobody ran :helptags.
    assert res["help"] == {"ctask": "ctask.txt", ":Ctask-remove": "ctask.txt", "ctask-install-packadd": "ctask.txt"}
    assert res["server"] == "ctask-ls"
    assert res["list"] == "ctask: no tasks yet; create one with :Ctask new"
    assert res["errors"] == []


def test_without_ctask_ls_one_warning_and_checkhealth_says_how_to_install(nvim: Nvim, env: Env, tmp_path: Path) -> None:
    init = tmp_path / "init.lua"
    init.write_text(
        f'vim.opt.rtp:prepend("{PLUGIN}")\nrequire("ctask").setup({{}})\nrequire("ctask").setup({{ notify = true }})\n'
    )
    tmux = shutil.which("tmux")
    assert tmux is not None
    path = "/usr/bin:/bin"
    assert shutil.which("ctask-ls", path=path) is None
    run = nvim.run("missing.lua", startup=["-u", str(init), "-i", "NONE"], env={"PATH": path})
    assert run.returncode == 0, run.explain()
    assert "Error detected while processing" not in run.stderr + run.stdout
    res = run.result
    install = f"pipx install {REPO}"
    # One warning from init.lua (setup ran twice), saying how to install the server.
    [warning] = [m for m in res["messages"] if m.startswith("ctask:")]
    assert warning == (
        f"ctask: ctask-ls not found on PATH: install it ({install}) or set `cmd` in setup(); "
        ":checkhealth ctask says more"
    )
    # A command the user runs says it again, as its one ERROR line.
    assert [n["msg"] for n in res["list"]] == [warning]
    report = "\n".join(res["health"])
    assert "ERROR ctask-ls not found: `ctask-ls` is not an executable on PATH" in report
    assert f"Install it from the ctask_ls repository: `{install}`" in report
    assert 'require("ctask").setup({ cmd = { "/path/to/ctask-ls" } })' in report
