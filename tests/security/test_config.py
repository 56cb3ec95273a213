"""Issue 14, "config values that break a later step": refused when the config is read (SPEC 2).

Every number is finite and within a sane range, and no agent command,
argument or environment value holds a NUL (nor a variable's name an ``=``):
``ctask new`` fails with one line naming the key before any task directory
or tmux session exists.  The real ``ctask`` on the test's private tmux socket.
"""

from __future__ import annotations

import typing as t

import pytest

from tests.helpers import FAST_CONFIG, Env

pytestmark = pytest.mark.timeout(120)

SH = FAST_CONFIG["agent"]

BAD: dict[str, tuple[dict[str, t.Any], str]] = {
    "poll_interval_inf": ({"poll_interval": float("inf")}, "poll_interval must be"),
    "poll_interval_tiny": ({"poll_interval": 1e-300}, "poll_interval must be"),
    "heartbeat_interval_tiny": ({"heartbeat_interval": 1e-300}, "heartbeat_interval must be"),
    "lock_timeout_inf": ({"lock_timeout": float("inf")}, "lock_timeout must be"),
    "lock_timeout_huge": ({"lock_timeout": 1e300}, "lock_timeout must be"),
    "stale_after_huge": ({"stale_after": 1e300}, "stale_after must be"),
    "launch_grace_tiny": ({"launch_grace": 1e-300}, "launch_grace must be"),
    "env_value_nul": ({"agent": {**SH, "env": {"TOKEN": "a\0b"}}}, "agent.env value of TOKEN"),
    "env_name_equals": ({"agent": {**SH, "env": {"A=B": "x"}}}, "agent.env names"),
    "args_nul": ({"agent": {**SH, "args": ["-c", "true\0"]}}, "agent.args"),
    "command_nul": ({"agent": {**SH, "command": "sh\0"}}, "agent.command"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_config_value_that_would_break_a_launch_is_refused_before_anything_exists(env: Env, case: str) -> None:
    overrides, names_key = BAD[case]
    env.write_config(overrides)
    proc = env.run("new", "t1", "--detach")
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"ctask: error: config {env.config_path}: "), proc.stderr
    assert names_key in proc.stderr, proc.stderr
    assert not (env.ctask_home / "tasks" / "t1").exists()
    assert env.tmux_sessions() == []
