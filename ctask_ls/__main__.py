"""``python -m ctask_ls`` runs the language server."""

from __future__ import annotations

import sys

from ctask_ls.server.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
