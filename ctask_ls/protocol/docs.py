"""docs/server.md's tables, rendered from the protocol and spliced between marker comments.

Each table sits between ``<!-- BEGIN GENERATED name ... -->`` and
``<!-- END GENERATED name -->``; the prose around them is written by hand.
"""

from __future__ import annotations

import re

from . import commands, errors, payloads, settings
from .fields import Field, doc_of, fields_of
from .render import COMMAND


def _md(text: str) -> str:
    """Docstring reST (``x``) as Markdown (`x`), pipes escaped for tables."""
    return text.replace("``", "`").replace("|", "\\|")


def _args(command: commands.Command) -> str:
    keys = ", ".join(a.name + ("" if a.required else "?") for a in command.args)
    return f"`{{{keys}}}`"


def commands_table() -> str:
    rows = ["| command | argument | result |", "| --- | --- | --- |"]
    rows += [f"| `{c.name}` | {_args(c)} | {c.result} |" for c in commands.COMMAND_SPECS]
    return "\n".join(rows)


def _fields(fields: tuple[Field, ...]) -> str:
    return ", ".join(f.name + ("?" if f.optional else "") for f in fields)


def notifications_table() -> str:
    rows = ["| notification | params | what it says |", "| --- | --- | --- |"]
    for name, cls in payloads.PAYLOADS.items():
        says = doc_of(cls).split(": ", 1)[-1]  # without "Params of `name`: "
        rows.append(f"| `{name}` | `{{{_fields(fields_of(cls))}}}` | {_md(says)} |")
    return "\n".join(rows)


_JSON = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "list[str]": "string list",
    "LeaseStateName": "lease state",
    "ActivityStateName": "activity state",
    "ActivitySourceName": "activity source",
    "Activity": "activity object",
    "LaunchActionName": "launch action",
    "Counts": "counts",
    "Lease": "lease object",
    "Repo": "repo object",
    "Summary": "summary",
    "GitView": "git object",
    "AgentMapping": "agent object",
    "Env": "object of strings",
    "LaunchSession": "session object",
    "Terminal": "terminal object",
}


def _json_type(annotation: str) -> str:
    parts = [p.strip() for p in annotation.split("|")]
    return " or ".join("null" if p == "None" else _JSON[p] for p in parts)


def _field_table(cls: type) -> str:
    rows = ["| field | type | meaning |", "| --- | --- | --- |"]
    for f in fields_of(cls):
        optional = " (may be absent)" if f.optional else ""
        kind = _json_type(f.annotation.replace(" | None", "") if f.optional else f.annotation)
        rows.append(f"| `{f.name}` | {kind}{optional} | {_md(f.doc)} |")
    return "\n".join(rows)


def lease_table() -> str:
    return _field_table(payloads.Lease)


def lease_state_table() -> str:
    return _field_table(payloads.LeaseState)


def activity_table() -> str:
    return _field_table(payloads.Activity)


def activity_notification_table() -> str:
    return _field_table(payloads.ActivityNotification)


def _error_row(e: errors.ErrorKind) -> str:
    return f"| {e.code} ({errors.CODE_NAMES[e.code]}) | `{e.kind}` | {e.when} |"


def errors_table() -> str:
    rows = ["| code | `data.kind` | when |", "| --- | --- | --- |"]
    rows += [_error_row(e) for e in errors.COMMAND_ERRORS]
    rows += ["", "`data.reason` of a `GitError`:", "", "| reason | when |", "| --- | --- |"]
    rows += [f"| `{reason}` | {when} |" for reason, when in errors.GIT_REASONS.items()]
    rows += ["", "The JSON-RPC layer's own errors (see [Lifecycle](#lifecycle)):", ""]
    rows += ["| code | `data.kind` | when |", "| --- | --- | --- |"]
    rows += [_error_row(e) for e in errors.RPC_ERRORS]
    return "\n".join(rows)


def settings_table() -> str:
    rows = ["| setting | config key | type | default | meaning |", "| --- | --- | --- | --- | --- |"]
    for s in settings.SETTINGS:
        kinds = " or ".join(s.types)
        rows.append(f"| `{s.name}` | `{s.key}` | {kinds} | {s.default_text} | {_md(s.doc)} |")
    return "\n".join(rows)


TABLES = {
    "commands": commands_table,
    "notifications": notifications_table,
    "lease": lease_table,
    "lease-state": lease_state_table,
    "activity": activity_table,
    "activity-notification": activity_notification_table,
    "errors": errors_table,
    "settings": settings_table,
}
"""Marker name -> the table between its markers in docs/server.md."""


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- BEGIN GENERATED {name} by `{COMMAND}`: do not edit -->", f"<!-- END GENERATED {name} -->"


def splice(text: str) -> str:
    """``text`` (docs/server.md) with every generated table brought up to date; raises when a marker is missing."""
    for name, table in TABLES.items():
        begin, end = _markers(name)
        pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"docs/server.md has no {begin!r} ... {end!r} block for the {name} table")
        replacement = f"{begin}\n{table()}\n{end}"
        text = pattern.sub(lambda _m: replacement, text, count=1)  # noqa: B023 - used at once, in this iteration
    return text
