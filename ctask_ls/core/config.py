"""Where things live and the settings every command shares.

Home: ``$CTASK_HOME``, else ``$XDG_DATA_HOME/ctask``, else
``~/.local/share/ctask``.  Config: ``$CTASK_CONFIG``, else
``$XDG_CONFIG_HOME/ctask/config.yaml`` (optional; every key has a default).

tmux: ``tmux.socket_name`` (default ``ctask``) selects a dedicated tmux server,
so the user's own tmux sessions and configuration are never touched.
``$CTASK_TMUX_SOCKET`` overrides it; a value containing ``/`` is a socket
*path* (``tmux -S``), anything else a socket *name* (``tmux -L``).
"""

from __future__ import annotations

import dataclasses
import os
import typing as t
from pathlib import Path

from ctask_ls.core.agent import DEFAULT_AGENT_COMMAND, AgentSpec
from ctask_ls.core.errors import ConfigError, CtaskError
from ctask_ls.core.storage import yaml_module

MODES = ("persistent", "direct")


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings shared by the CLI and the server."""

    home: Path
    """Root of every task workspace (``<home>/tasks/NAME``)."""
    agent: AgentSpec = dataclasses.field(default_factory=lambda: AgentSpec(DEFAULT_AGENT_COMMAND))
    """Default agent of new tasks."""
    mode: str = "persistent"
    """``persistent`` (tmux) or ``direct`` (a child on the caller's terminal)."""
    heartbeat_interval: float = 5.0
    """Seconds between two heartbeats of an owned lease."""
    stale_after: float = 30.0
    """A heartbeat older than this makes a lease stale."""
    lock_timeout: float = 5.0
    """Seconds to wait for a workspace's write lock."""
    poll_interval: float = 1.0
    """Seconds between two looks at tmux while a session is owned."""
    ignore: tuple[str, ...] = (".git/",)
    """gitignore-style patterns that manifests leave out."""
    tmux_socket: str = "ctask"
    """tmux socket name, or a path when it contains ``/``."""
    launch_grace: float = 0.5
    """Seconds a new agent must stay alive for its launch to count as started."""
    auto_adopt: bool = True
    """Server only: adopt orphaned sessions at start and while polling."""

    @property
    def tasks_dir(self) -> Path:
        return self.home / "tasks"


_NUMBERS = ("heartbeat_interval", "stale_after", "lock_timeout", "poll_interval", "launch_grace")


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


def apply_settings(base: Config, data: t.Mapping[str, t.Any]) -> tuple[Config, list[str]]:
    """Apply a settings mapping over ``base``.

    Returns the new config and one line per invalid key; an invalid key keeps
    the value of ``base`` (the server reports these and carries on, the CLI
    refuses to run with a broken config file).
    """
    problems: list[str] = []
    changes: dict[str, t.Any] = {}
    for key, value in data.items():
        if key == "home":
            if isinstance(value, str) and value:
                changes["home"] = Path(value).expanduser()
            elif value is not None:
                problems.append("home must be a path")
        elif key == "agent":
            try:
                changes["agent"] = AgentSpec.from_mapping(value, where="agent", base=base.agent)
            except CtaskError as exc:
                problems.append(str(exc))
        elif key == "mode":
            if value in MODES:
                changes["mode"] = value
            else:
                problems.append(f"mode must be one of {', '.join(MODES)}")
        elif key in _NUMBERS:
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                changes[key] = float(value)
            else:
                problems.append(f"{key} must be a positive number of seconds")
        elif key == "ignore":
            if isinstance(value, list) and all(isinstance(p, str) for p in value):
                changes["ignore"] = tuple(value)
            else:
                problems.append("ignore must be a list of patterns")
        elif key == "tmux":
            if isinstance(value, dict) and isinstance(value.get("socket_name", ""), str):
                if value.get("socket_name"):
                    changes["tmux_socket"] = value["socket_name"]
            else:
                problems.append("tmux must be a mapping like {socket_name: ctask}")
        elif key in ("auto_adopt", "autoAdopt"):
            if isinstance(value, bool):
                changes["auto_adopt"] = value
            else:
                problems.append("autoAdopt must be true or false")
        else:
            problems.append(f"unknown setting '{key}'")
    if changes.get("stale_after", base.stale_after) <= changes.get("heartbeat_interval", base.heartbeat_interval):
        problems.append("stale_after must be larger than heartbeat_interval")
        changes.pop("stale_after", None)
        changes.pop("heartbeat_interval", None)
    return dataclasses.replace(base, **changes), problems


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
