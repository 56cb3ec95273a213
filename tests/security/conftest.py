"""The server fixtures of tests/server, for the security tests that drive a real ``ctask-ls`` over stdio."""

from tests.server.conftest import agent_py, lsp

__all__ = ["agent_py", "lsp"]
