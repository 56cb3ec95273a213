"""The settings editors send: names, JSON types and defaults, read off the core's one model.

:class:`ctask_ls.core.config.Config` is the model (types, defaults,
docstrings, and each field's :class:`~ctask_ls.core.config.Rule`); the
settings an editor may send are its fields with an editor name.  They arrive
in ``initializationOptions`` and ``workspace/didChangeConfiguration``, as
``{"ctask": {...}}`` (:data:`SETTINGS_SECTION`) or the bare object.
"""

from __future__ import annotations

import dataclasses
import typing as t

from ctask_ls.core import config as core_config
from ctask_ls.core.agent import AgentSpec

from .fields import fields_of

SETTINGS_SECTION = "ctask"
"""The settings section of ``workspace/didChangeConfiguration`` and ``workspace/configuration``."""

CLIENT_ONLY: frozenset[str] = frozenset({"server", "trace", "statusBar", "terminal", "notifications", "nvim", "vscode"})
"""Keys of the ``ctask`` section that only the editor side reads: the server ignores them quietly."""

_JSON_TYPES: dict[str, tuple[str, ...]] = {
    "float": ("number",),
    "bool": ("boolean",),
    "str": ("string",),
    "Path": ("string",),
    "AgentSpec": ("string", "object"),
}


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting an editor may send."""

    name: str
    """Its name in the editor's settings (camelCase)."""
    key: str
    """Its ``config.yaml`` key (the layer underneath)."""
    types: tuple[str, ...]
    """The JSON types it accepts: ``number``, ``boolean``, ``string``, ``object``."""
    default: t.Any
    """Its JSON default; None when the default is computed (``default_text`` says how)."""
    default_text: str
    """The default as docs show it."""
    must_be: str
    """What a valid value is."""
    doc: str
    """What it does."""


def _default(field: dataclasses.Field[t.Any]) -> t.Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
        if isinstance(value, AgentSpec):
            return {"command": value.command}
        return value
    return None


def _text(value: t.Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return "{" + ", ".join(f'{k}: "{v}"' for k, v in value.items()) + "}"
    return str(value)


def _settings() -> tuple[Setting, ...]:
    docs = {f.name: f.doc for f in fields_of(core_config.Config)}
    out = []
    for field in dataclasses.fields(core_config.Config):
        rule = core_config.rule_of(field)
        if rule.editor is None:
            continue
        annotation = field.type if isinstance(field.type, str) else field.type.__name__
        default = _default(field)
        out.append(
            Setting(
                name=rule.editor,
                key=rule.yaml_key(field.name),
                types=_JSON_TYPES[annotation],
                default=default,
                default_text=rule.default_text or f"`{_text(default)}`",
                must_be=rule.must_be,
                doc=docs[field.name],
            )
        )
    return tuple(out)


SETTINGS: tuple[Setting, ...] = _settings()
"""Every setting an editor may send, in the model's order."""
