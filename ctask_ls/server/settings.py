"""Editor settings over the shared config.

The server starts from the same configuration as the CLI
(:func:`ctask_ls.core.config.load_config`: defaults, ``config.yaml``,
``$CTASK_HOME``/``$CTASK_TMUX_SOCKET``), then overlays the editor's settings:
``initializationOptions`` first, then the latest
``workspace/didChangeConfiguration``, which replaces the one before it (a
setting the editor drops goes back to the value underneath).

Settings arrive camelCase (``heartbeatInterval``), either bare or inside a
``ctask`` section.  An invalid setting is reported and ignored (the base value
stays); it is never fatal.  Keys that belong to the editor side of the
extension (``server``, ``trace``, ...) are ignored silently.
"""

from __future__ import annotations

import dataclasses
import os
import typing as t

from ctask_ls.core.api import Config, CtaskError, apply_settings, default_home, load_config

from . import protocol

SETTINGS: dict[str, str] = {
    "home": "home",
    "agent": "agent",
    "heartbeatInterval": "heartbeat_interval",
    "staleAfter": "stale_after",
    "pollInterval": "poll_interval",
    "lockTimeout": "lock_timeout",
    "autoAdopt": "auto_adopt",
}
"""Editor setting (camelCase) -> config key."""

CLIENT_ONLY = frozenset({"server", "trace", "statusBar", "terminal", "nvim", "vscode"})
"""Keys of the ``ctask`` section that only the editor side reads."""


def base_config(env: t.Mapping[str, str] | None = None) -> tuple[Config, list[str]]:
    """The CLI's configuration; a broken config file is reported and defaults are used."""
    env = os.environ if env is None else env
    try:
        return load_config(env), []
    except CtaskError as exc:
        config = Config(home=default_home(env))
        if env.get("CTASK_TMUX_SOCKET"):
            config = dataclasses.replace(config, tmux_socket=env["CTASK_TMUX_SOCKET"])
        return config, [f"{exc}; using the default settings"]


def section(raw: object) -> tuple[dict[str, t.Any], list[str]]:
    """The ctask settings inside ``raw`` (``{"ctask": {...}}`` or the bare mapping)."""
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        return {}, [f"settings must be an object like {{{protocol.SETTINGS_SECTION!r}: {{...}}}}"]
    inner = raw.get(protocol.SETTINGS_SECTION)
    if isinstance(inner, dict):
        return dict(inner), []
    if protocol.SETTINGS_SECTION in raw and inner is not None:
        return {}, [f"settings.{protocol.SETTINGS_SECTION} must be an object"]
    if protocol.SETTINGS_SECTION in raw:
        return {}, []
    return dict(raw), []


def overlay(base: Config, raw: object) -> tuple[Config, list[str]]:
    """``base`` with the editor's settings applied, and one line per problem."""
    data, problems = section(raw)
    mapped: dict[str, t.Any] = {}
    for key, value in data.items():
        if value is None or key in CLIENT_ONLY:
            continue
        target = SETTINGS.get(key) or (key if key in SETTINGS.values() else None)
        if target is None:
            known = ", ".join(SETTINGS)
            problems.append(f"unknown setting '{key}' (known: {known})")
            continue
        mapped[target] = value
    config, more = apply_settings(base, mapped)
    camel = {v: k for k, v in SETTINGS.items()}
    for line in more:
        for snake, name in camel.items():
            line = line.replace(snake, name)
        problems.append(line)
    return config, problems
