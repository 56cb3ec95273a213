"""``ctask-ls`` / ``python -m ctask_ls``: the language server (placeholder until it lands)."""

from __future__ import annotations

import sys


def main() -> int:
    print("ctask-ls: not yet", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
