"""The wire protocol is defined once, in ctask_ls/protocol; every copy is generated from it or checked here.

The generated files are editors/vscode/src/generated/protocol.ts,
editors/nvim/lua/ctask/protocol.lua and the tables of docs/server.md between
``BEGIN GENERATED`` / ``END GENERATED`` markers; ``python -m ctask_ls.protocol
--write`` rewrites them.  Each drift review found would have failed here (or in
a type check these files feed):

* **The TypeScript client knew 11 of the 17 error kinds and lacked the
  ``worktree_missing`` GitError reason** (a hand-written constants.ts).  Its
  ``ErrorKind`` and ``GitReason`` are now the generated ones: the kinds are
  read off the core's CtaskError classes and the reasons off
  ``GitError.REASONS``, so ``test_generated_files_are_up_to_date`` fails on a
  list of 11 (``test_a_hand_edit_of_a_generated_file_is_caught`` drops
  ``worktree_missing`` to show it), and ``test_every_git_reason_the_core_raises_is_declared``
  fails when the core raises a reason ``REASONS`` lacks.
* **It read ``owned_here`` from task objects and their lease, which the server
  never sends.**  ``TaskJson`` and ``LeaseJson`` are generated from
  ``protocol.Task`` and ``protocol.Lease``, which
  ``test_the_core_sends_exactly_the_objects_the_protocol_describes`` holds to
  the core's own JSON; reading a field they lack no longer compiles (``tsc``
  in ``npm test``, tests/vscode/test_vscode_unit.py).
* **The Neovim plugin documented ``settings.agent = "aider"``; the server
  refused a string.**  The plugin's setting types are generated from the
  settings model, tests/server/test_settings.py's
  ``test_every_type_the_protocol_advertises_for_a_setting_is_accepted`` sends
  each advertised type through the server's reader, and
  ``test_nvim_help_documents_each_setting_as_the_server_reads_it`` holds
  doc/ctask.txt to the model ("string or table" while the model said
  object only would fail).
* docs/server.md's tables of commands, notifications, the lease object,
  errors and settings: ``test_generated_files_are_up_to_date``; VS Code's
  settings in package.json: ``test_vscode_settings_have_the_server_defaults``.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import json
import re
import shutil
import typing as t

from ctask_ls import protocol
from ctask_ls.core import errors as core_errors
from ctask_ls.core import lease as core_leases
from ctask_ls.core.api import Core, TaskStatus
from ctask_ls.core.config import Config
from ctask_ls.protocol import __main__ as generator
from ctask_ls.protocol import render
from tests.helpers import REPO

if t.TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers import Env


def test_generated_files_are_up_to_date() -> None:
    stale = generator.stale(REPO)
    assert stale == [], (
        f"{', '.join(map(str, stale))} differ from ctask_ls/protocol: run `python -m ctask_ls.protocol --write`"
    )


def test_a_hand_edit_of_a_generated_file_is_caught(tmp_path: Path) -> None:
    for path in (generator.TYPESCRIPT, generator.LUA, generator.DOCS):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / path, tmp_path / path)
    assert generator.stale(tmp_path) == []
    ts = tmp_path / generator.TYPESCRIPT
    ts.write_text(ts.read_text().replace("  worktreeMissing: 'worktree_missing',\n", ""))
    assert generator.main(["--check", "--root", str(tmp_path)]) == 1
    assert generator.stale(tmp_path) == [generator.TYPESCRIPT]
    assert generator.main(["--write", "--root", str(tmp_path)]) == 0
    assert generator.stale(tmp_path) == []


def _subclasses(cls: type[core_errors.CtaskError]) -> list[type[core_errors.CtaskError]]:
    out: list[type[core_errors.CtaskError]] = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def test_every_error_kind_of_the_core_is_on_the_wire() -> None:
    kinds = {cls.kind for cls in _subclasses(core_errors.CtaskError)}
    assert len(kinds) == 16
    assert set(protocol.CORE_KINDS) == kinds
    on_the_wire = {e.kind for e in protocol.COMMAND_ERRORS}
    assert on_the_wire == kinds | {"InternalError", "RequestCancelled"}  # the 17 of review, and cancellation
    assert all(e.when for e in protocol.COMMAND_ERRORS), "every kind says when it is sent (docs/server.md)"
    assert set(protocol.ERROR_KINDS) == on_the_wire | {e.kind for e in protocol.RPC_ERRORS}
    assert {k: protocol.code_for(k) for k in ("InvalidName", "TaskNotFound", "InternalError")} == {
        "InvalidName": -32602,
        "TaskNotFound": -32803,
        "InternalError": -32603,
    }


def test_every_error_kind_the_server_answers_is_declared() -> None:
    """The kinds the JSON-RPC layer and the server write as literals are all in the protocol."""
    server = REPO / "ctask_ls" / "server"
    said: set[str] = set()
    for path in server.glob("*.py"):
        text = path.read_text()
        said |= set(re.findall(r"refuse\(\s*[\w.]+,\s*\"(\w+)\"", text))
        said |= set(re.findall(r"\{\"kind\": \"(\w+)\"\}", text))
    assert said, "the patterns no longer match the server's code: update this test"
    assert said <= set(protocol.ERROR_KINDS), said - set(protocol.ERROR_KINDS)


def test_every_git_reason_the_core_raises_is_declared() -> None:
    raised: set[str] = set()
    for path in (REPO / "ctask_ls").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "GitError":
                for kw in node.keywords:
                    if kw.arg == "reason" and isinstance(kw.value, ast.Constant):
                        raised.add(str(kw.value.value))
    assert "worktree_missing" in raised
    assert raised == set(protocol.GIT_REASONS)
    assert set(protocol.FORCIBLE_GIT_REASONS) <= raised


def _names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_the_core_sends_exactly_the_objects_the_protocol_describes(env: Env) -> None:
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    held = core_leases.Lease("box-1-1", "box", 1, "claude", "persistent", "ctask-t", now, now, "server")
    fresh = core_leases.LeaseInfo(core_leases.FRESH_LOCAL, lease=held, age_s=0.5)
    assert set(fresh.to_json()) == _names(protocol.Lease) - {"reason"}
    stale = core_leases.LeaseInfo(core_leases.STALE, reason="heartbeat 40 s old", lease=held, age_s=40.0)
    assert set(stale.to_json()) == _names(protocol.Lease)
    assert set(core_leases.LeaseInfo(core_leases.MISSING).to_json()) == {"state"}

    broken = core_errors.CorruptMetadata("/x/task.yaml", "bad")
    task = TaskStatus("t", "/x", fresh, "ctask-t", True, None, None, False, broken).to_json()
    assert set(task) == _names(protocol.Task)
    assert "owned_here" not in task and "owned_here" not in task["lease"]  # only ctask/leaseState says it

    core = Core(Config(home=env.ctask_home, tmux_socket=env.socket), owner="server", say=lambda _m: None)
    launched = core.launch_result(core.workspace("t"), None, "passive")
    assert set(launched) == _names(protocol.LaunchResult)
    assert set(launched["session"]) == _names(protocol.LaunchSession)
    assert set(launched["terminal"]) == _names(protocol.Terminal)


def test_vscode_settings_have_the_server_defaults() -> None:
    package = json.loads((REPO / "editors" / "vscode" / "package.json").read_text())
    properties = package["contributes"]["configuration"]["properties"]
    by_name = {s.name: s for s in protocol.SETTINGS}
    server_side = [key.removeprefix("ctask.") for key in properties if key.split(".")[1] in by_name]
    assert {"home", "agent.command", "agent.args", "autoAdopt", "heartbeatInterval", "staleAfter"} <= set(server_side)
    for key in server_side:
        setting = by_name[key.split(".")[0]]
        if isinstance(setting.default, int | float):  # bool too
            assert properties[f"ctask.{key}"]["default"] == setting.default, key


def test_nvim_help_documents_each_setting_as_the_server_reads_it() -> None:
    text = (REPO / "editors" / "nvim" / "doc" / "ctask.txt").read_text()
    lua = {"number": "number", "boolean": "boolean", "string": "string", "object": "table"}
    for setting in protocol.SETTINGS:
        match = re.search(rf"^settings\.{setting.name} ~\n(.*?)\n\n", text, re.MULTILINE | re.DOTALL)
        assert match, f"doc/ctask.txt has no settings.{setting.name} entry"
        entry = " ".join(match.group(1).split())
        types = " or ".join(lua[k] for k in setting.types)
        assert entry.startswith(f"({types})"), (setting.name, entry)
        if isinstance(setting.default, int | float):
            default = render.lua_value(setting.default)
            assert f"server default {default})" in entry, (setting.name, entry)


def test_the_default_branch_the_clients_show_is_the_one_the_core_makes() -> None:
    from ctask_ls.core import git as core_git

    assert core_git.default_branch("fix-login") == protocol.DEFAULT_BRANCH_PREFIX + "fix-login"
