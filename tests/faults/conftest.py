"""The server fixtures (``lsp``, ``agent_py``) for the fault-injection tests."""

from __future__ import annotations

from tests.server.conftest import agent_py, lsp

__all__ = ["agent_py", "lsp"]
