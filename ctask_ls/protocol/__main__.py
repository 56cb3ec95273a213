"""``python -m ctask_ls.protocol --write | --check``: the clients' copies of the protocol and docs/server.md's tables.

``--write`` rewrites the generated files of a source checkout; ``--check``
writes nothing and exits 1 naming each file that differs (what
tests/test_protocol.py asserts).  ``--root`` is the checkout (default: the one
this package lives in).
"""

from __future__ import annotations

import argparse
import sys
import typing as t
from pathlib import Path

from . import docs, render

REPO = Path(__file__).resolve().parents[2]

TYPESCRIPT = Path("editors/vscode/src/generated/protocol.ts")
LUA = Path("editors/nvim/lua/ctask/protocol.lua")
DOCS = Path("docs/server.md")


def expected(root: Path) -> dict[Path, str]:
    """Each generated file of the checkout at ``root`` -> the text it should have."""
    server_md = (root / DOCS).read_text(encoding="utf-8")
    return {TYPESCRIPT: render.typescript(), LUA: render.lua(), DOCS: docs.splice(server_md)}


def stale(root: Path = REPO) -> list[Path]:
    """The generated files whose committed text differs from what the generator makes."""
    out = []
    for path, text in expected(root).items():
        try:
            current = (root / path).read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text:
            out.append(path)
    return out


def write(root: Path = REPO) -> list[Path]:
    """Rewrite the stale generated files; returns them."""
    changed = stale(root)
    texts = expected(root)
    for path in changed:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(texts[path], encoding="utf-8")
    return changed


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ctask_ls.protocol", description=__doc__.split("\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", action="store_true", help="rewrite the generated files that are stale")
    what.add_argument("--check", action="store_true", help="exit 1 when a generated file is stale")
    parser.add_argument("--root", type=Path, default=REPO, help="the source checkout (default: %(default)s)")
    args = parser.parse_args(argv)
    if not (args.root / DOCS).is_file():
        parser.error(f"{args.root} is not a ctask_ls source checkout (no {DOCS}); pass --root")
    if args.write:
        for path in write(args.root):
            print(f"wrote {path}")
        return 0
    bad = stale(args.root)
    for path in bad:
        print(f"{path} is stale: run `{render.COMMAND}`", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
