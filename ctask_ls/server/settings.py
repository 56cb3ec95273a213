"""Editor settings over the shared config.

The server starts from the same configuration as the CLI
(:func:`ctask_ls.core.config.load_config`: defaults, ``config.yaml``,
``$CTASK_HOME``/``$CTASK_TMUX_SOCKET``), then overlays the editor's settings:
``initializationOptions`` first, then the latest
``workspace/didChangeConfiguration``, which replaces the one before it (a
setting the editor drops goes back to the value underneath).

Settings arrive camelCase (``heartbeatInterval``), either bare or inside a
``ctask`` section; :data:`ctask_ls.protocol.SETTINGS` lists them, read off the
core's one model (:class:`ctask_ls.core.config.Config`), which also reads
them.  An invalid setting is reported and ignored (the value underneath
stays); it is never fatal.  Keys that belong to the editor side of the
extension (``server``, ``trace``, ...) are ignored silently.
"""

from __future__ import annotations

import os
import typing as t

from ctask_ls.core.api import Config, CtaskError, apply_settings, defaults, load_config

from . import protocol

SETTINGS: dict[str, str] = {s.name: s.key for s in protocol.SETTINGS}
"""Editor setting (camelCase) -> config key."""


def base_config(env: t.Mapping[str, str] | None = None) -> tuple[Config, list[str]]:
    """The CLI's configuration; a broken config file is reported and defaults are used."""
    env = os.environ if env is None else env
    try:
        return load_config(env), []
    except CtaskError as exc:
        return defaults(env), [f"{exc}; using the default settings"]


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
    mine = {k: v for k, v in data.items() if k not in protocol.CLIENT_ONLY}
    config, more = apply_settings(base, mine, editor=True)
    known = ", ".join(SETTINGS)
    problems.extend(f"{line} (known: {known})" if line.startswith("unknown setting") else line for line in more)
    return config, problems
