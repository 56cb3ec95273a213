"""``ctask hook``: an agent's hook event becomes its task's activity (SPEC 3.10).

Run by the agent for each event with the standard library only, imported
from this directory as the top-level module ``hook`` (``python -I -S -c
"...import hook..." AGENT [EVENT_JSON]``, see :mod:`.wiring`; running it by
path works too), so a call costs an interpreter start and a few system
calls: it must never slow the agent down.  It imports neither ``json`` nor
``re`` (with their ``enum``, half of a call's time): CPython's ``_json``
scanner and string encoder do the JSON.

- Claude Code runs it from the ``hooks`` of the ``--settings`` file ctask
  gives each launch, with the event as JSON on stdin (``hook_event_name``,
  ``session_id``, and per event ``tool_name``, ``notification_type``,
  ``message``).
- Codex runs it as its ``notify`` program, with the event as JSON in the
  last argument (``type: agent-turn-complete``, ``thread-id``).  Codex
  notifies for its own internal threads too (0.171 asks the model for a
  title in one); only a thread it saved counts (:func:`codex_thread_saved`).

The task comes from the agent's environment (``CTASK_HOME``, ``CTASK_TASK``,
``CTASK_SESSION_ID``), and an event counts only when ``CTASK_SESSION_ID`` is
the session the task is running (its ``launched`` mark).  The result is
``activity.json`` in the task's control directory (0600, replaced by rename,
never through a link), read by :mod:`ctask_ls.core.activity`.  No lock is
taken: a hook never waits for ctask.  Whatever happens, the exit status is 0
and nothing is printed, so a hook can never fail or confuse the agent.
"""

from __future__ import annotations

import os
import stat
import sys
import time

try:  # CPython's own JSON scanner and string encoder, without the json package's imports (re, enum):
    import _json as _cjson  # those were half of a hook's time (bench/results.md)
except ImportError:  # another Python: the json package
    _cjson = None  # type: ignore[assignment] # the module or None

FILE = "activity.json"
MAX_EVENT_BYTES = 1 << 20
MAX_MESSAGE = 300
STDIN_SECONDS = 2.0
"""The longest a hook waits for its event on stdin (Claude Code writes it at once and closes the pipe)."""
_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

# Claude Code's events: the activity each one means (None: the event changes nothing).
CLAUDE = {
    "SessionStart": "idle",
    "UserPromptSubmit": "working",
    "PreToolUse": "working",
    "PostToolUse": "working",
    "PermissionRequest": "needs_input",
    "Stop": "idle",
    "SubagentStop": None,
    "PreCompact": "working",
    "SessionEnd": None,
}
# Notification types: a wait for the user, or the idle reminder.
CLAUDE_NOTIFICATIONS = {"permission_prompt": "needs_input", "elicitation_dialog": "needs_input", "idle_prompt": "idle"}
# Codex's notify: it reports finished turns only.
CODEX = {"agent-turn-complete": "idle"}
TURN_END_ONLY = frozenset({"codex"})
"""Agents whose hooks report finished turns only: each report is a new activity (the turn between was unseen)."""


def interpret(agent: str, event: object) -> tuple[str | None, str | None, str | None]:
    """(activity, message, conversation id) of one event; activity None: nothing to record."""
    if not isinstance(event, dict):
        return None, None, None
    if agent == "codex":
        thread = event.get("thread-id")
        said = event.get("last-assistant-message")
        state = CODEX.get(str(event.get("type")))
        return state, said if isinstance(said, str) else None, thread if isinstance(thread, str) else None
    name = event.get("hook_event_name")
    conversation = event.get("session_id")
    conversation = conversation if isinstance(conversation, str) else None
    message: str | None = None
    if name == "Notification":
        state = CLAUDE_NOTIFICATIONS.get(str(event.get("notification_type")))
        message = event.get("message") if isinstance(event.get("message"), str) else None
    else:
        state = CLAUDE.get(str(name))
        tool = event.get("tool_name")
        if isinstance(tool, str):
            message = f"permission to use {tool}" if name == "PermissionRequest" else tool
    return state, message, conversation


def codex_thread_saved(thread: str, environ: dict[str, str] | None = None) -> bool:
    """Whether Codex saved thread ``thread``: ``rollout-*-THREAD.jsonl`` in ``$CODEX_HOME/sessions/YYYY/MM/DD``.

    Codex 0.171 runs an internal thread beside the user's on the first prompt
    (it asks the model for a title), with its own ``notify`` when it ends,
    which is usually before the user's turn does.  That thread is never saved:
    it is not the conversation ``codex resume`` takes, and its end is not the
    turn's.  Thread ids are UUIDv7, whose first 48 bits are the creation time,
    so only the directories of the days around it are listed.  When it cannot
    be told (no sessions directory, an id of another form) the event counts.
    """
    env = os.environ if environ is None else environ
    home = env.get("CODEX_HOME") or os.path.join(env.get("HOME") or "/nonexistent", ".codex")
    sessions = os.path.join(home, "sessions")
    digits = thread.replace("-", "")
    if len(digits) != 32 or digits[12] != "7" or not os.path.isdir(sessions):
        return True
    try:
        created = int(digits[:12], 16) / 1000
    except ValueError:
        return True
    days = {
        time.strftime("%Y/%m/%d", convert(created + shift))
        for shift in (-86400, 0, 86400)
        for convert in (time.localtime, time.gmtime)
    }
    suffix = f"-{thread}.jsonl"
    for day in days:
        try:
            names = os.listdir(os.path.join(sessions, day))
        except OSError:
            continue
        if any(name.startswith("rollout-") and suffix in name for name in names):
            return True
    return False


def valid_name(name: str) -> bool:
    """A task name (workspace.NAME_RE: ``[A-Za-z0-9][A-Za-z0-9._-]{0,63}``), checked without importing ``re``."""
    return 0 < len(name) <= 64 and name.isascii() and name[0].isalnum() and all(c.isalnum() or c in "._-" for c in name)


class _Decoding:
    """What the C scanner asks of a decoder: ``json.loads``'s defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity


def loads(text: str) -> object:
    """``json.loads(text)``; raises ValueError (or RecursionError) on anything that is not one JSON value."""
    if _cjson is None:
        import json

        return json.loads(text)
    text = text.strip(" \t\n\r")
    try:
        value, end = _cjson.make_scanner(_Decoding)(text, 0)  # type: ignore[arg-type] # any such context
    except StopIteration:
        raise ValueError("not JSON") from None
    if end != len(text):
        raise ValueError("more than one JSON value")
    return value


def quote(text: str) -> str:
    """A JSON string, as ``json.dumps`` writes it (ASCII only)."""
    if _cjson is None:
        import json

        return json.dumps(text)
    return str(_cjson.encode_basestring_ascii(text))


def dumps(data: dict[str, str | int | float | None]) -> str:
    """``json.dumps(data, separators=(",", ":"))`` of a flat object of strings, finite numbers and nulls."""
    items = []
    for key, value in data.items():
        if value is None:
            text = "null"
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int) or (isinstance(value, float) and value - value == 0):
            text = repr(value)
        elif isinstance(value, str):
            text = quote(value)
        else:
            raise ValueError(f"not a JSON value for {key}: {value!r}")
        items.append(f"{quote(key)}:{text}")
    return "{" + ",".join(items) + "}"


def _read_small(path: str, limit: int) -> bytes | None:
    """A small regular file's bytes, never through a link nor blocking; None when there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | _FLAGS)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, limit + 1)
        return data if len(data) <= limit else None
    finally:
        os.close(fd)


def is_running(control: str, session_id: str) -> bool:
    """Whether ``session_id`` is the task's running session.

    That is the id in its ``launched`` mark; an agent's first hooks may come
    before ctask wrote the mark (right after tmux started it), and then the
    lease it took for the launch says so (``session_id: "ID"``, as ctask
    writes it: the launch's lease carries the session's own id).
    """
    running = _read_small(os.path.join(control, "launched"), 4096)
    if running is not None:
        return running.decode("utf-8", "replace").strip() == session_id
    lease = _read_small(os.path.join(control, "lease.yaml"), 65536)
    if lease is None:
        return False
    wanted = f"session_id: {quote(session_id)}"
    return any(line.strip() == wanted for line in lease.decode("utf-8", "replace").splitlines())


def record(
    control: str, session_id: str, agent: str, state: str, message: str | None, conversation: str | None
) -> None:
    """Replace ``activity.json`` in ``control``, keeping the conversation id a later event lacks."""
    previous: dict[str, object] = {}
    raw = _read_small(os.path.join(control, FILE), 65536)
    if raw:
        try:
            loaded = loads(raw.decode())
            if isinstance(loaded, dict) and loaded.get("session_id") == session_id:
                previous = loaded
        except (ValueError, RecursionError):
            pass
    if conversation is None and isinstance(previous.get("conversation_id"), str):
        conversation = str(previous["conversation_id"])
    now = time.time()
    data: dict[str, str | int | float | None] = {
        "schema": 1,
        "session_id": session_id,
        "agent": agent,
        "state": state,
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "at": now,
        "source": "hook",
        "message": " ".join(message.split())[:MAX_MESSAGE] if message else None,
        "conversation_id": conversation[:200] if conversation else None,
    }
    since, at = previous.get("since"), previous.get("at")
    ongoing = isinstance(since, str) and isinstance(at, float) and 0 < at <= now
    if ongoing and previous.get("state") == state and agent not in TURN_END_ONLY:  # same age, newer message
        data["since"], data["at"] = since, at  # type: ignore[assignment] # checked just above
        if all(previous.get(k) == data[k] for k in ("message", "conversation_id")):
            return  # nothing changed: no write, no event for the watchers
    tmp = os.path.join(control, f".{FILE}.{os.getpid()}.tmp")
    try:  # noqa: SIM105 - contextlib is an import a hook need not pay for
        os.unlink(tmp)  # left by a hook that died here with the same pid
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FLAGS, 0o600)
    try:
        try:
            os.write(fd, dumps(data).encode())
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(control, FILE))  # replaces a link or FIFO planted there, never writes to it
    except BaseException:
        try:  # noqa: SIM105 - as above
            os.unlink(tmp)  # a directory planted at activity.json, a full disk: leave no temporary file
        except OSError:
            pass
        raise


def _read_event(fd: int, limit: int, seconds: float) -> bytes | None:
    """All of ``fd`` up to its end (Claude Code's event on stdin); None past ``limit`` bytes or ``seconds``.

    A hook never blocks on its input: a stdin that is a terminal or a pipe
    never closed gives up after ``seconds``.
    """
    import select

    deadline = time.monotonic() + seconds
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None


def main(argv: list[str], stdin: int = 0) -> int:
    """Record one event (Claude Code's on the file descriptor ``stdin``); returns 0 whatever happens."""
    try:
        agent = argv[0] if argv else ""
        home, task, session_id = (os.environ.get(k, "") for k in ("CTASK_HOME", "CTASK_TASK", "CTASK_SESSION_ID"))
        if agent not in ("claude", "codex") or not (home and session_id and valid_name(task)):
            return 0
        control = os.path.join(home, "tasks", task)
        if not is_running(control, session_id):
            return 0  # not the task's running session (an old one, or no session at all)
        if agent == "codex":
            raw: bytes | None = argv[-1].encode() if len(argv) > 1 else None
        else:
            raw = _read_event(stdin, MAX_EVENT_BYTES, STDIN_SECONDS)
        if not raw or len(raw) > MAX_EVENT_BYTES:
            return 0
        state, message, conversation = interpret(agent, loads(raw.decode()))
        if agent == "codex" and conversation is not None and not codex_thread_saved(conversation):
            return 0  # one of Codex's internal threads, not the user's
        if state is not None:
            record(control, session_id, agent, state, message, conversation)
    except BaseException:  # noqa: BLE001, S110 - a hook must never fail the agent
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
