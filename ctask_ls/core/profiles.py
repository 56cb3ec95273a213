"""Agent profiles (SPEC 3.11): how ctask drives one kind of agent.

A profile says which hooks a launch wires (SPEC 3.10: ``claude``, ``codex``
or ``none``), the arguments that resume the agent's own conversation
(SPEC 3.12, with ``{id}`` standing for the conversation id its hooks
reported), and fixed arguments every launch passes before the task's own.

Built in: ``claude``, ``codex``, ``aider``, ``gemini``, ``opencode`` and
``generic`` (tmux activity only, nothing to resume).  A task's profile is
``profile:`` in its ``task.yaml``, else ``profile:`` in ``config.yaml``,
else the profile whose ``commands`` hold the agent command's base name
(``/usr/local/bin/claude`` is ``claude``), else ``generic``.  Users add
profiles, or change a built-in one key by key, under ``profiles:`` in
``config.yaml``::

    profiles:
      claude: {args: [--model, opus]}          # every claude launch gets these first
      my-agent: {commands: [my-agent], resume: [--continue-session, "{id}"]}

Only the hook kinds ctask implements can be named: a profile cannot run a
program of its own choosing as a hook.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

from ctask_ls.core.errors import InvalidArgument

HOOK_KINDS = ("claude", "codex", "none")
GENERIC = "generic"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
ID = "{id}"
KEYS = ("commands", "hooks", "resume", "args")


@dataclasses.dataclass(frozen=True)
class Profile:
    """How ctask drives one kind of agent."""

    name: str
    commands: tuple[str, ...] = ()
    """Base names of the agent commands this profile is chosen for."""
    hooks: str = "none"
    """Which hooks a launch wires: ``claude`` (``--settings``), ``codex`` (``-c notify``) or ``none``."""
    resume: tuple[str, ...] = ()
    """Arguments that resume a conversation; ``{id}`` is replaced by its id.  Empty: cannot resume."""
    args: tuple[str, ...] = ()
    """Fixed arguments of every launch, before the task's own."""
    source: str = "built-in"
    """``built-in``, ``config``, or ``built-in + config`` (a built-in one the config changed)."""

    def resume_args(self, conversation: str | None) -> list[str] | None:
        """The arguments resuming ``conversation``; None when there is nothing to resume with."""
        if not self.resume or not conversation or not any(ID in a for a in self.resume):
            return None
        return [a.replace(ID, conversation) for a in self.resume]

    def to_json(self) -> dict[str, t.Any]:
        return {
            "name": self.name,
            "commands": list(self.commands),
            "hooks": self.hooks,
            "resume": list(self.resume),
            "args": list(self.args),
            "source": self.source,
        }


BUILT_IN: tuple[Profile, ...] = (
    Profile("claude", ("claude",), "claude", ("--resume", ID)),
    Profile("codex", ("codex",), "codex", ("resume", ID)),
    Profile("aider", ("aider",)),
    Profile("gemini", ("gemini",), resume=("--resume", ID)),
    Profile("opencode", ("opencode",), resume=("--session", ID)),
    Profile(GENERIC),
)
"""What ctask knows of each agent.  Only Claude Code and Codex report a conversation id (their hooks), so
the resume arguments of the others are used only once a user profile wires them to one of those hooks."""


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v and "\0" not in v for v in value):
        raise InvalidArgument(f"{where} must be a list of non-empty strings")
    return tuple(value)


def read_profiles(data: object, base: tuple[Profile, ...] = BUILT_IN) -> tuple[Profile, ...]:
    """``profiles:`` of ``config.yaml`` over ``base``; InvalidArgument naming the first bad key."""
    if not isinstance(data, dict):
        raise InvalidArgument("profiles must be a mapping of profile names to {commands, hooks, resume, args}")
    out = {p.name: p for p in base}
    for name, value in data.items():
        where = f"profiles.{name}"
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise InvalidArgument(f"{where}: a profile name is lower-case letters, digits, '.', '_' and '-'")
        if not isinstance(value, dict):
            raise InvalidArgument(f"{where} must be a mapping with some of {', '.join(KEYS)}")
        if unknown := sorted(set(value) - set(KEYS)):
            raise InvalidArgument(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(KEYS)})")
        old = out.get(name)
        changes: dict[str, t.Any] = {}
        if "commands" in value:
            changes["commands"] = _strings(value["commands"], f"{where}.commands")
            if any("/" in c for c in changes["commands"]):
                raise InvalidArgument(f"{where}.commands are base names of commands, without '/'")
        if "hooks" in value:
            if value["hooks"] not in HOOK_KINDS:
                raise InvalidArgument(f"{where}.hooks must be one of {', '.join(HOOK_KINDS)}")
            changes["hooks"] = value["hooks"]
        if "resume" in value:
            changes["resume"] = _strings(value["resume"], f"{where}.resume")
            if changes["resume"] and not any(ID in a for a in changes["resume"]):
                raise InvalidArgument(f"{where}.resume must contain {ID} (the conversation id) in one argument")
        if "args" in value:
            changes["args"] = _strings(value["args"], f"{where}.args")
        if old is None:
            out[name] = Profile(name, source="config", **changes)
        else:
            source = "config" if old.source == "config" else "built-in + config"
            out[name] = dataclasses.replace(old, source=source, **changes)
    return tuple(out.values())


def choose(profiles: t.Sequence[Profile], command: str, named: str | None) -> Profile:
    """The profile of an agent ``command``: ``named`` (task.yaml or config ``profile:``), else by the command's
    base name, else ``generic``.  InvalidArgument when ``named`` is not a profile."""
    by_name = {p.name: p for p in profiles}
    if named:
        if named not in by_name:
            raise InvalidArgument(
                f"profile '{named}' is not defined; see `ctask profiles`, or fix `profile:` in task.yaml or config.yaml"
            )
        return by_name[named]
    base = command.rstrip("/").rsplit("/", 1)[-1]
    for profile in profiles:
        if base in profile.commands:
            return profile
    return by_name.get(GENERIC) or Profile(GENERIC)
