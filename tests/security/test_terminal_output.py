"""SPEC 9: text the agent controls (file names, commit subjects, screen lines) is printed without control sequences.

An agent names a file, or writes a commit subject, with escape sequences that
would set the terminal's title (OSC 0), clear the screen (CSI 2J) or, with a
newline and a carriage return, forge a line of ctask's own output.  Every
human-readable print of that text by the real ``ctask`` shows it escaped:
no ESC, BEL, C1 control or raw newline reaches the terminal.  ``--json``
output keeps the exact text.
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t

import pytest

from ctask_ls.core.api import terminal_safe
from tests.gitrepo import IDENTITY, make_repo

if t.TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers import Env

TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
HOSTILE = f"evil{TITLE}{CLEAR}\nforged: task ok\r\x9bname"
"""A file name (and commit subject) that sets the title, clears the screen, forges a line, and holds a C1 CSI."""
SUBJECT = f"fix{TITLE}{CLEAR} and more"

AGENT = """\
import os, pathlib, subprocess, sys, time
here = pathlib.Path(os.environ.get("CTASK_WORKTREE") or os.environ["CTASK_WORKSPACE"])
(here / {name!r}).write_text("owned\\n")
if os.environ.get("CTASK_WORKTREE"):
    subprocess.run(["git", "add", "-A"], cwd=here, check=True)
    subprocess.run(["git", "commit", "-q", "-m", {subject!r}], cwd=here, check=True)
    (here / ("uncommitted-" + {name!r})).write_text("also\\n")
print({name!r}, flush=True)
time.sleep(0.6)
"""


@pytest.fixture
def hostile_agent(tmp_path: Path) -> list[str]:
    script = tmp_path / "hostile_agent.py"
    script.write_text(AGENT.format(name=HOSTILE, subject=SUBJECT))
    return [sys.executable, str(script)]


def ctask(env: Env, *args: str) -> bytes:
    """``ctask ARGS`` as a real process: what it wrote on stdout and stderr, as bytes (a terminal gets them raw)."""
    proc = subprocess.run(
        [sys.executable, "-m", "ctask_ls.cli", *args],
        env={**env.vars, **IDENTITY},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        cwd=env.root,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout + proc.stderr


def assert_no_control_sequences(output: bytes) -> None:
    text = output.decode("utf-8")
    assert b"\x1b" not in output, output
    assert b"\x07" not in output, output
    assert b"\r" not in output, output
    assert "\x9b" not in text, output
    assert not any(line.startswith(("forged", "\x9b")) for line in text.splitlines()), output
    assert "pwned" not in text or terminal_safe(TITLE) in text, output


def test_agent_file_name_with_escapes_is_printed_escaped_by_new_diff_status_list(
    env: Env, hostile_agent: list[str]
) -> None:
    new = ctask(env, "new", "t1", "--agent", hostile_agent[0], "--", *hostile_agent[1:])
    assert_no_control_sequences(new)
    assert terminal_safe(HOSTILE).encode() in new  # the summary lists the file, escaped

    diff = ctask(env, "diff", "t1")
    assert_no_control_sequences(diff)
    assert f"  + {terminal_safe(HOSTILE)}\n".encode() in diff
    assert b"evil\\x1b]0;pwned\\x07\\x1b[2J\\nforged: task ok\\r\\x9bname" in diff

    for command in (("status", "t1"), ("list",), ("log", "t1")):
        assert_no_control_sequences(ctask(env, *command))

    assert json.loads(ctask(env, "diff", "t1", "--json"))["added"] == [HOSTILE]  # --json keeps the exact name


def test_agent_commit_subject_and_file_names_with_escapes_are_printed_escaped_in_a_repo_task(
    env: Env, hostile_agent: list[str], tmp_path: Path
) -> None:
    repo = make_repo(env.vars, tmp_path / "project")
    new = ctask(env, "new", "t1", "--repo", str(repo), "--agent", hostile_agent[0], "--", *hostile_agent[1:])
    assert_no_control_sequences(new)

    diff = ctask(env, "diff", "t1")
    assert_no_control_sequences(diff)
    git = json.loads(ctask(env, "diff", "t1", "--json"))["git"]
    assert [c["subject"] for c in git["commits"]] == [SUBJECT]  # --json keeps the exact subject
    assert f" {terminal_safe(SUBJECT)}\n".encode() in diff  # under "commits since base"
    paths = [e["path"] for e in git["committed"] + git["uncommitted"]]
    assert len(paths) == 2 and all(p.startswith(("evil\x1b", "uncommitted-evil\x1b")) for p in paths), paths
    for path in paths:  # committed, then uncommitted: "STATUS<tab>PATH"
        assert f"\t{terminal_safe(path)}\n".encode() in diff

    assert_no_control_sequences(ctask(env, "status", "t1"))


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain name.txt", "plain name.txt"),
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("title\x1b]0;x\x07", "title\\x1b]0;x\\x07"),
        ("two\nlines\r\tend", "two\\nlines\\r\\tend"),
        ("del\x7f c1\x9b nul\x00", "del\\x7f c1\\x9b nul\\x00"),
        ("bidi\u202eexe.txt", "bidi\\u202eexe.txt"),
        ("not utf-8 \udc9b[2J", "not utf-8 \\x9b[2J"),
        ("héllo 日本 ✓ \\x1b", "héllo 日本 ✓ \\x1b"),
    ],
)
def test_terminal_safe_escapes_every_control_character_and_keeps_the_rest(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown
