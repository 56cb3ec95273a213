"""Where things live and the settings every command shares: one typed model, its defaults and its reader.

Home: ``$CTASK_HOME``, else ``$XDG_DATA_HOME/ctask``, else
``~/.local/share/ctask``.  Config: ``$CTASK_CONFIG``, else
``$XDG_CONFIG_HOME/ctask/config.yaml`` (optional; every key has a default).

:class:`Config` is the one model of the settings: each field's type, default
and docstring, and in its metadata (:class:`Rule`) what a valid value is and
the names it goes by (the ``config.yaml`` key, and the camelCase name editors
send).  :func:`apply_settings` reads a mapping into it, from ``config.yaml``
or from an editor: each value is structured with cattrs to the field's type
and checked, and an invalid one is reported (one line) and leaves the value
underneath in place.  The CLI refuses to run with a broken config file; the
server reports and carries on.  The wire protocol (:mod:`ctask_ls.protocol`)
and the editors' copies of the settings are generated from this model.

Hosts (SPEC 10): ``hosts:`` lists the other machines whose tasks ``ctask
--host NAME`` and ``ctask list --all-hosts`` reach through ssh, each
``{name, ssh, command}`` (:class:`Host`); the CLI's :mod:`ctask_ls.cli_remote`
runs ssh, the core only reads and checks the list.

tmux: ``tmux.socket_name`` (default ``ctask``) selects a dedicated tmux server,
so the user's own tmux sessions and configuration are never touched.
``$CTASK_TMUX_SOCKET`` overrides it; a value containing ``/`` is a socket
*path* (``tmux -S``), anything else a socket *name* (``tmux -L``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
import typing as t
from pathlib import Path

from ctask_ls.core import profiles
from ctask_ls.core.agent import DEFAULT_AGENT_COMMAND, AgentSpec
from ctask_ls.core.errors import ConfigError, CtaskError
from ctask_ls.core.storage import yaml_module

Mode = t.Literal["persistent", "direct"]
MODES: tuple[str, ...] = t.get_args(Mode)


def _non_empty(value: str) -> bool:
    return value != ""


HOST_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
LOCAL_HOST = "local"
"""The name ``ctask list --all-hosts`` gives this machine; no configured host may take it."""
HOST_KEYS = ("name", "ssh", "command")


@dataclasses.dataclass(frozen=True)
class Host:
    """Another machine with its own ctask, reached through the user's ssh (SPEC 10)."""

    name: str
    """What ``--host`` and the HOST column call it."""
    ssh: str
    """The ssh destination (``user@machine``, or a ``Host`` of ``~/.ssh/config``); default: the name."""
    command: str = "ctask"
    """The ctask command there, as its shell reads it (``~/.venv/bin/ctask``); default ``ctask``."""


def _host_text(value: object, what: str, *, dest: bool = False) -> str:
    """A host's ``ssh`` or ``command``: a non-empty string on one line (a destination: no blanks, no leading '-')."""
    if not isinstance(value, str) or not value.strip() or any(ord(c) < 32 or c == "\x7f" for c in value):
        raise ValueError(f"{what} must be a non-empty string on one line")
    if dest and (value.startswith("-") or any(c.isspace() for c in value)):
        raise ValueError(
            f"{what} must be an ssh destination (user@machine or a Host of ~/.ssh/config), "
            "without blanks and not starting with '-'"
        )
    return value


def read_hosts(value: object) -> tuple[Host, ...]:
    """``hosts:`` of ``config.yaml``: a list of names or ``{name, ssh, command}`` mappings; ValueError naming
    the first bad entry (``hosts[2] (box).ssh must be ...``)."""
    if not isinstance(value, list):
        raise ValueError("hosts must be a list of {name, ssh, command} mappings (or host names)")
    hosts: list[Host] = []
    for i, entry in enumerate(value, 1):
        item = {"name": entry} if isinstance(entry, str) else entry
        where = f"hosts[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be a mapping {{name, ssh, command}} or a host name")
        if unknown := sorted(str(k) for k in set(item) - set(HOST_KEYS)):
            raise ValueError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(HOST_KEYS)})")
        name = item.get("name")
        if not isinstance(name, str) or not HOST_NAME_RE.fullmatch(name):
            raise ValueError(
                f"{where}.name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        where = f"{where} ({name})"
        if name == LOCAL_HOST:
            raise ValueError(f"{where}: '{LOCAL_HOST}' is this machine in `ctask list --all-hosts`; name it otherwise")
        if any(h.name == name for h in hosts):
            raise ValueError(f"{where}: a second host named '{name}'; host names must differ")
        ssh = _host_text(item.get("ssh", name), f"{where}.ssh", dest=True)
        command = _host_text(item.get("command", "ctask"), f"{where}.command")
        hosts.append(Host(name, ssh, command))
    return tuple(hosts)


@dataclasses.dataclass(frozen=True)
class Rule:
    """How a :class:`Config` field is read from ``config.yaml`` and editor settings (its metadata)."""

    must_be: str
    """What a valid value is, as the report of an invalid one says (``a positive number of seconds``)."""
    check: t.Callable[[t.Any], bool] | None = None
    """A test the structured value must pass, beyond its type."""
    editor: str | None = None
    """The camelCase name editors send it by; None: only ``config.yaml`` sets it."""
    key: str | None = None
    """Its ``config.yaml`` key when that is not the field's name (``tmux.socket_name``)."""
    default_text: str | None = None
    """The default in words, when it is computed rather than fixed."""

    def yaml_key(self, field: str) -> str:
        return self.key or field


def _seconds(low: float, high: float, **names: str) -> Rule:
    """A number of seconds from ``low`` to ``high``: finite, and neither so small that a loop spins nor so large
    that a wait or a sleep overflows (``.inf`` and ``1e300`` are refused when the config is read)."""
    return Rule(
        f"a number of seconds from {low:g} to {high:g}",
        lambda value: math.isfinite(value) and low <= value <= high,
        **names,
    )


HOUR = 3600.0


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings shared by the CLI and the server."""

    home: Path = dataclasses.field(
        metadata={"rule": Rule("a path", editor="home", default_text="`$CTASK_HOME`, else `$XDG_DATA_HOME/ctask`")}
    )
    """Root of every task workspace (``<home>/tasks/NAME``)."""
    agent: AgentSpec = dataclasses.field(
        default_factory=lambda: AgentSpec(DEFAULT_AGENT_COMMAND),
        metadata={"rule": Rule("a command or a mapping {command, args, env}", editor="agent")},
    )
    """Default agent of new tasks: ``{command, args, env}``, or a command alone (``"aider"`` is
    ``{command: "aider"}``); keys left out keep the value underneath."""
    mode: Mode = dataclasses.field(default="persistent", metadata={"rule": Rule(f"one of {', '.join(MODES)}")})
    """``persistent`` (tmux) or ``direct`` (a child on the caller's terminal); the server always launches
    persistent sessions."""
    heartbeat_interval: float = dataclasses.field(
        default=5.0, metadata={"rule": _seconds(0.01, HOUR, editor="heartbeatInterval")}
    )
    """Seconds between two heartbeats of an owned lease."""
    stale_after: float = dataclasses.field(
        default=30.0, metadata={"rule": _seconds(0.01, 24 * HOUR, editor="staleAfter")}
    )
    """A heartbeat older than this many seconds makes a lease stale (must exceed the heartbeat interval)."""
    lock_timeout: float = dataclasses.field(default=5.0, metadata={"rule": _seconds(0.01, HOUR, editor="lockTimeout")})
    """Seconds to wait for a workspace's write lock."""
    poll_interval: float = dataclasses.field(
        default=1.0, metadata={"rule": _seconds(0.01, HOUR, editor="pollInterval")}
    )
    """Seconds between two looks at tmux and the leases when something needs them (a session the server does not
    own); a server with only its own sessions looks at deadlines and every 10 s."""
    idle_after: float = dataclasses.field(default=10.0, metadata={"rule": _seconds(0.01, HOUR, editor="idleAfter")})
    """Seconds of quiet after which an agent whose hooks say nothing counts as ``idle`` (SPEC 3.10)."""
    ignore: tuple[str, ...] = dataclasses.field(default=(".git/",), metadata={"rule": Rule("a list of patterns")})
    """gitignore-style patterns that manifests leave out."""
    tmux_socket: str = dataclasses.field(
        default="ctask", metadata={"rule": Rule("a non-empty string", _non_empty, key="tmux.socket_name")}
    )
    """tmux socket name, or a path when it contains ``/``."""
    launch_grace: float = dataclasses.field(default=0.5, metadata={"rule": _seconds(0.01, 600)})
    """Seconds a new agent must stay alive for its launch to count as started."""
    profile: str = dataclasses.field(
        default="",
        metadata={"rule": Rule("a profile name (see `ctask profiles`)", lambda v: bool(profiles.NAME_RE.fullmatch(v)))},
    )
    """The profile of every task whose ``task.yaml`` names none (SPEC 3.11); empty: chosen by the agent command."""
    profiles: tuple[profiles.Profile, ...] = dataclasses.field(
        default=profiles.BUILT_IN,
        metadata={"rule": Rule("a mapping of profile names to {commands, hooks, resume, args}")},
    )
    """The agent profiles: the built-in ones, with ``config.yaml``'s ``profiles:`` over them (:mod:`.profiles`)."""
    snapshot_max_file: int = dataclasses.field(
        default=10 * 1024 * 1024,
        metadata={"rule": Rule("a number of bytes from 0 to 2**40", lambda v: 0 <= v <= 2**40)},
    )
    """Files larger than this many bytes are kept by metadata only in checkpoints (SPEC 3.13)."""
    checkpoint_keep: int = dataclasses.field(
        default=100, metadata={"rule": Rule("a whole number from 1 to 100000", lambda v: 1 <= v <= 100_000)}
    )
    """How many checkpoints a task keeps (each session's start checkpoint is kept besides)."""
    auto_adopt: bool = dataclasses.field(default=True, metadata={"rule": Rule("true or false", editor="autoAdopt")})
    """Server only: adopt orphaned sessions (tmux alive, lease missing or stale) at start and while polling;
    never a ``fresh_remote`` one without asking."""
    hosts: tuple[Host, ...] = dataclasses.field(
        default=(), metadata={"rule": Rule("a list of {name, ssh, command} mappings")}
    )
    """CLI only: other machines with their own ctask, reached through ssh by ``ctask --host NAME`` and
    ``ctask list --all-hosts`` (SPEC 10); each ``{name, ssh (default: the name), command (default: ctask)}``."""

    @property
    def tasks_dir(self) -> Path:
        return self.home / "tasks"


def rule_of(field: dataclasses.Field[t.Any]) -> Rule:
    return t.cast("Rule", field.metadata["rule"])


@functools.cache
def field_types() -> dict[str, t.Any]:
    """Field -> its type, resolved (the annotations are strings)."""
    return t.get_type_hints(Config)


# -- reading values: cattrs, strictly (no "yes" -> True, no "5" -> 5.0, no "abc" -> ("a", "b", "c")) ----------


def _strict_float(value: object, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    return float(value)


def _strict_int(value: object, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("not a whole number")
    return value


def _strict_bool(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError("not a boolean")
    return value


def _strict_str(value: object, _: type) -> str:
    if not isinstance(value, str) or "\0" in value:
        raise TypeError("not a string")
    return value


def _path(value: object, _: type) -> Path:
    if not _strict_str(value, str):
        raise ValueError("an empty path")
    return Path(t.cast("str", value)).expanduser()


def _strings(value: object, _: type) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return tuple(_strict_str(v, str) for v in value)


_HOOKS: dict[t.Any, t.Callable[[object, t.Any], t.Any]] = {
    float: _strict_float,
    bool: _strict_bool,
    int: _strict_int,
    str: _strict_str,
    Path: _path,
    tuple[str, ...]: _strings,
}
"""The converter's own hooks, by type: a value of one of these types is read by its hook directly (what the
converter would call), so that reading ``config.yaml`` does not import cattrs (~50 ms of every ``ctask``'s
start) unless a setting of another type (``mode``'s literal) is set."""


@functools.cache
def _converter() -> t.Any:
    import cattrs

    converter = cattrs.Converter()
    for cls, hook in _HOOKS.items():
        if cls != tuple[str, ...]:
            converter.register_structure_hook(cls, hook)
    converter.register_structure_hook_func(lambda cls: cls == tuple[str, ...], _strings)
    return converter


def _structure(value: object, cls: t.Any) -> t.Any:
    hook = _HOOKS.get(cls)
    return hook(value, cls) if hook is not None else _converter().structure(value, cls)


def agent_mapping(value: object) -> object:
    """An agent setting as a mapping: a string is shorthand for ``{command: STRING}``."""
    return {"command": value} if isinstance(value, str) else value


def _read(field: str, value: object, base: Config, name: str) -> t.Any:
    """``value`` as the type of ``field``, checked; raises ValueError with the line to report."""
    rule = rule_of(_FIELDS[field])
    if field == "agent":  # its keys left out keep the agent underneath
        if not isinstance(value, str | dict):
            raise ValueError(f"{name} must be {rule.must_be}")
        try:
            return AgentSpec.from_mapping(agent_mapping(value), where=name, base=base.agent)
        except CtaskError as exc:
            raise ValueError(str(exc)) from None
    if field == "hosts":  # the whole list: a host left out is not one
        return read_hosts(value)
    if field == "profiles":  # its profiles left out, and their keys left out, keep what is underneath
        try:
            return profiles.read_profiles(value, base.profiles)
        except CtaskError as exc:
            raise ValueError(str(exc)) from None
    try:
        out = _structure(value, field_types()[field])
    except Exception:  # noqa: BLE001 - cattrs raises what the hook raised, or its own errors
        raise ValueError(f"{name} must be {rule.must_be}") from None
    if rule.check is not None and not rule.check(out):
        raise ValueError(f"{name} must be {rule.must_be}")
    return out


_FIELDS: dict[str, dataclasses.Field[t.Any]] = {f.name: f for f in dataclasses.fields(Config)}


def _names(*, editor: bool) -> dict[str, tuple[str, str]]:
    """The keys a source may use -> (field, the name its reports use).

    ``config.yaml`` knows every field by its key (and by its editor name);
    editors know the fields that have an editor name, by it or by the key.
    """
    names: dict[str, tuple[str, str]] = {}
    for f in dataclasses.fields(Config):
        rule = rule_of(f)
        if editor and rule.editor is None:
            continue
        shown = rule.editor if editor and rule.editor else rule.yaml_key(f.name)
        names[rule.yaml_key(f.name)] = (f.name, shown)
        if rule.editor:
            names[rule.editor] = (f.name, shown)
    return names


_YAML_NAMES = _names(editor=False)
_EDITOR_NAMES = _names(editor=True)


def _flatten(data: t.Mapping[str, t.Any], names: dict[str, tuple[str, str]]) -> tuple[dict[str, t.Any], list[str]]:
    """Nested keys (``tmux: {socket_name: ...}``) as their dotted names; other keys of such a mapping are ignored."""
    out: dict[str, t.Any] = {}
    problems: list[str] = []
    nested = {k.split(".", 1)[0]: k for k in names if "." in k}
    for key, value in data.items():
        if key in nested:
            if not isinstance(value, dict):
                sub = nested[key].split(".", 1)[1]
                problems.append(f"{key} must be a mapping like {{{sub}: ...}}")
                continue
            for dotted in names:
                head, _, sub = dotted.partition(".")
                if head == key and sub in value:
                    out[dotted] = value[sub]
        else:
            out[key] = value
    return out, problems


def apply_settings(base: Config, data: t.Mapping[str, t.Any], *, editor: bool = False) -> tuple[Config, list[str]]:
    """Apply a settings mapping over ``base``.

    Returns the new config and one line per invalid or unknown key; an invalid
    key keeps the value of ``base`` (the server reports these and carries on,
    the CLI refuses to run with a broken config file).  A key set to null is
    left as it is.  ``editor``: the keys are an editor's settings (camelCase,
    as the protocol names them; the ``config.yaml`` key is accepted too) and
    the reports use those names.
    """
    names = _EDITOR_NAMES if editor else _YAML_NAMES
    flat, problems = _flatten(data, names)
    changes: dict[str, t.Any] = {}
    shown: dict[str, str] = {}
    for key, value in flat.items():
        if key not in names:
            problems.append(f"unknown setting '{key}'")
            continue
        field, name = names[key]
        shown[field] = name
        if value is None:
            continue
        try:
            changes[field] = _read(field, value, base, name)
        except ValueError as exc:
            problems.append(str(exc))
    named = changes.get("profile", base.profile)
    if named and named not in {p.name for p in changes.get("profiles", base.profiles)}:
        problems.append(f"{shown.get('profile', 'profile')} '{named}' is not a profile; see `ctask profiles`")
        changes.pop("profile", None)
    if changes.get("stale_after", base.stale_after) <= changes.get("heartbeat_interval", base.heartbeat_interval):
        stale = shown.get("stale_after") or _display("stale_after", editor=editor)
        beat = shown.get("heartbeat_interval") or _display("heartbeat_interval", editor=editor)
        problems.append(f"{stale} must be larger than {beat}")
        changes.pop("stale_after", None)
        changes.pop("heartbeat_interval", None)
    return dataclasses.replace(base, **changes), problems


def _display(field: str, *, editor: bool) -> str:
    rule = rule_of(_FIELDS[field])
    return (rule.editor if editor else None) or rule.yaml_key(field)


def default_home(env: t.Mapping[str, str]) -> Path:
    if env.get("CTASK_HOME"):
        return Path(env["CTASK_HOME"]).expanduser()
    if env.get("XDG_DATA_HOME"):
        return Path(env["XDG_DATA_HOME"]) / "ctask"
    return Path(env.get("HOME") or Path.home()) / ".local" / "share" / "ctask"


def config_path(env: t.Mapping[str, str]) -> Path:
    if env.get("CTASK_CONFIG"):
        return Path(env["CTASK_CONFIG"]).expanduser()
    if env.get("XDG_CONFIG_HOME"):
        return Path(env["XDG_CONFIG_HOME"]) / "ctask" / "config.yaml"
    return Path(env.get("HOME") or Path.home()) / ".config" / "ctask" / "config.yaml"


def defaults(env: t.Mapping[str, str]) -> Config:
    """Every setting at its default (``home`` from the environment), then the environment overrides."""
    config = Config(home=default_home(env))
    if env.get("CTASK_TMUX_SOCKET"):
        config = dataclasses.replace(config, tmux_socket=env["CTASK_TMUX_SOCKET"])
    return config


def load_config(env: t.Mapping[str, str] | None = None) -> Config:
    """Defaults, then the config file, then the environment overrides."""
    env = os.environ if env is None else env
    config = Config(home=default_home(env))
    path = config_path(env)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}; fix its permissions") from exc
    if text is not None:
        yaml = yaml_module()[0]
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {path} is not valid YAML ({_first_line(exc)}); fix or remove it") from exc
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"config {path} must be a mapping of settings; fix or remove it")
        config, problems = apply_settings(config, data)
        if problems:
            raise ConfigError(f"config {path}: {problems[0]}; fix the file or remove the key")
    if env.get("CTASK_HOME"):
        config = dataclasses.replace(config, home=Path(env["CTASK_HOME"]).expanduser())
    if env.get("CTASK_TMUX_SOCKET"):
        config = dataclasses.replace(config, tmux_socket=env["CTASK_TMUX_SOCKET"])
    return config


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


_SNAPSHOT = (
    "tmux_socket",
    "stale_after",
    "lock_timeout",
    "ignore",
    "heartbeat_interval",
    "poll_interval",
    "idle_after",
)


def snapshot(config: Config) -> dict[str, t.Any]:
    """What a process without ctask's environment needs to see a task as this one does (the reaper).

    The home, the tmux server, the lease timings and the ignore patterns (the
    diff it records must be the one its owner would have recorded).
    """
    data: dict[str, t.Any] = {"schema": 1, "home": str(config.home)}
    for name in _SNAPSHOT:
        value = getattr(config, name)
        data[name] = list(value) if isinstance(value, tuple) else value
    return data


def from_snapshot(data: t.Mapping[str, t.Any]) -> Config:
    """The :class:`Config` of a :func:`snapshot` (checked as any settings are); ConfigError when it is not one."""
    if not isinstance(data, dict) or data.get("schema") != 1 or not isinstance(data.get("home"), str):
        raise ConfigError("not a ctask settings snapshot")
    settings = {k: data[k] for k in _SNAPSHOT if k in data and k != "tmux_socket"}
    config, problems = apply_settings(Config(home=Path(data["home"])), settings)
    socket = data.get("tmux_socket")
    if problems or not isinstance(socket, str) or not socket:
        raise ConfigError(problems[0] if problems else "tmux_socket must be a non-empty string")
    return dataclasses.replace(config, tmux_socket=socket)
