"""Agent specs, their resolution, and the environment a launched agent sees.

Precedence (SPEC 3.3): config defaults < the task's ``task.yaml`` < a one-shot
``--agent CMD`` override, which replaces the command only.  The launched
environment is the caller's environment, then the exported ``CTASK_*``
variables, then ``agent.env``: **agent.env wins on collision**.  Arguments are
an argv list and never pass through a shell.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import typing as t

from ctask_ls.core.errors import AgentNotFound, InvalidArgument

DEFAULT_AGENT_COMMAND = "claude"
HIDDEN = "<hidden>"
"""What a task's ``list`` and ``status`` show in place of each ``agent.env`` value."""


@dataclasses.dataclass(frozen=True)
class AgentSpec:
    """What to run for a task, before PATH lookup."""

    command: str
    """A program name looked up on PATH, or a path."""
    args: tuple[str, ...] = ()
    """Arguments, passed verbatim as argv."""
    env: tuple[tuple[str, str], ...] = ()
    """Extra environment; wins over the caller's and the CTASK_* variables."""

    @classmethod
    def from_mapping(cls, data: t.Any, *, where: str, base: AgentSpec | None = None) -> AgentSpec:
        """Build a spec from ``{command, args, env}``; missing keys come from ``base``."""
        if data is None:
            if base is None:
                raise InvalidArgument(f"{where}: agent is missing")
            return base
        if not isinstance(data, dict):
            raise InvalidArgument(f"{where}: agent must be a mapping with command, args and env")
        # No NUL anywhere: the kernel takes argv and the environment as C strings (a NUL there is a
        # ValueError at launch, after the session was set up), and no '=' in a variable's name.
        command = data.get("command", base.command if base else None)
        if not isinstance(command, str) or not command or "\0" in command:
            raise InvalidArgument(f"{where}: agent.command must be a non-empty string without NUL characters")
        args = data.get("args", list(base.args) if base else [])
        if args is None:
            args = []
        if not isinstance(args, list) or not all(isinstance(a, str) and "\0" not in a for a in args):
            raise InvalidArgument(f"{where}: agent.args must be a list of strings without NUL characters")
        env = data.get("env", dict(base.env) if base else {})
        if env is None:
            env = {}
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str | int | float) for k, v in env.items()
        ):
            raise InvalidArgument(f"{where}: agent.env must map names to strings")
        if any(not k or "=" in k or "\0" in k for k in env):
            raise InvalidArgument(f"{where}: agent.env names must be non-empty and contain no '=' or NUL characters")
        values = {k: str(v) for k, v in env.items()}
        if bad := next((k for k, v in values.items() if "\0" in v), None):
            raise InvalidArgument(f"{where}: agent.env value of {bad} must not contain NUL characters")
        return cls(command, tuple(args), tuple(values.items()))

    def to_mapping(self, *, hide_env: bool = False) -> dict[str, t.Any]:
        """``{command, args, env}``; ``hide_env``: each value of ``env`` is :data:`HIDDEN` (what is shown of a task).

        ``agent.env`` holds tokens and API keys: ``list``, ``status`` and the
        server show their names only (SPEC 9); task.yaml keeps the values.
        """
        env = {k: HIDDEN for k, _v in self.env} if hide_env else dict(self.env)
        return {"command": self.command, "args": list(self.args), "env": env}

    def with_command(self, command: str | None) -> AgentSpec:
        """The one-shot ``--agent`` override: replace the command only."""
        if command is None:
            return self
        if not command or "\0" in command:
            raise InvalidArgument("--agent needs a program name or path")
        return dataclasses.replace(self, command=command)


@dataclasses.dataclass(frozen=True)
class ResolvedAgent:
    """An agent whose command was found on PATH."""

    spec: AgentSpec
    path: str
    """Absolute path of the executable."""
    label: str
    """What leases and summaries record as ``agent``."""

    @property
    def argv(self) -> list[str]:
        return [self.path, *self.spec.args]


def resolve(spec: AgentSpec, *, path_env: str | None = None, label: str | None = None) -> ResolvedAgent:
    """Look the command up on PATH; fail before anything is written."""
    command = spec.command
    search = path_env if path_env is not None else os.environ.get("PATH", os.defpath)
    if os.sep in command:
        found = command if os.path.isfile(command) and os.access(command, os.X_OK) else None
        if found is not None:
            found = os.path.abspath(found)
    else:
        found = shutil.which(command, path=search)
    if found is None:
        raise AgentNotFound(
            f"agent command '{command}' not found on PATH; install it, or pass --agent with a program that exists",
            command=command,
        )
    return ResolvedAgent(spec=spec, path=found, label=label or command)


EDITOR_VARIABLES = frozenset(
    {
        # Neovim: the editor that started the server (it may be gone by the time the agent runs)
        "NVIM",
        "NVIM_LISTEN_ADDRESS",
        "NVIM_LOG_FILE",
        "NVIM_SYSTEM_RPLUGIN_MANIFEST",
        "VIMRUNTIME",
        "VIM",
        "MYVIMRC",
        "MYGVIMRC",
        # VS Code and other Electron editors
        "ELECTRON_RUN_AS_NODE",
        "ELECTRON_NO_ATTACH_CONSOLE",
        # Emacs
        "INSIDE_EMACS",
        "EMACS",
    }
)
"""Variables of the editor that started ``ctask-ls``, never passed to an agent (SPEC 3.3)."""
EDITOR_PREFIXES = ("VSCODE_", "CODE_SERVER_")
"""Prefixes of the same (``VSCODE_IPC_HOOK_CLI``, ``VSCODE_GIT_IPC_HANDLE``, ...)."""


def is_editor_variable(name: str) -> bool:
    """Whether ``name`` belongs to the editor that started the server rather than to the user's shell."""
    return name in EDITOR_VARIABLES or name.startswith(EDITOR_PREFIXES)


def launch_environment(base: t.Mapping[str, str], ctask_vars: t.Mapping[str, str], spec: AgentSpec) -> dict[str, str]:
    """The environment of the launched agent, in the order SPEC 3.3 gives.

    The caller's environment less the editor's own variables
    (:data:`EDITOR_VARIABLES`, :data:`EDITOR_PREFIXES`), then the
    ``CTASK_*`` variables, then ``agent.env``, which wins (so a user who
    really wants ``NVIM`` in the agent sets it there).
    """
    env = {k: v for k, v in base.items() if not is_editor_variable(k)}
    env.update(ctask_vars)
    env.update(dict(spec.env))
    return env
