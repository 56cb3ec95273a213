"""Honest test agents: programs that behave like the real agents' documented hook contracts.

Each module here is a standalone script (standard library only) that
:func:`install` writes into a directory as an executable named like the
agent it plays, so that ctask recognises it by its command name exactly as
it recognises the real one (``core/wiring.py``), and wires it the same way:

- ``claude`` (:mod:`.claude`): takes ``--settings FILE`` and runs the hooks
  configured there, with Claude Code's documented event JSON on stdin, at
  the documented moments;
- ``codex`` (:mod:`.codex`): takes ``-c notify=[...]`` and runs that program
  with Codex's ``agent-turn-complete`` JSON as its last argument at the end
  of each turn;
- ``bursty`` (:mod:`.bursty`): any agent without hooks, bursts of output and
  silences.

All three are driven by lines typed into their tmux pane (``send-keys``);
each module's docstring lists its commands.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
AGENTS = ("claude", "codex", "bursty")


def install(bin_dir: Path) -> Path:
    """Write the test agents into ``bin_dir`` as executables ``claude``, ``codex`` and ``bursty``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in AGENTS:
        target = bin_dir / name
        target.write_text(f"#!{sys.executable}\n" + (HERE / f"{name}.py").read_text())
        target.chmod(0o755)
    return bin_dir
