"""Server benchmarks (filled in once the server lands)."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from pathlib import Path

BENCHES: dict[str, t.Callable[[Path, int], list[t.Any]]] = {}
