"""UTC times as the metadata files write them: RFC 3339, whole seconds."""

from __future__ import annotations

import datetime as dt
import time


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def rfc3339(value: dt.datetime) -> str:
    # isoformat, not strftime: `list` formats two times per task, and strftime is several times slower
    return value.astimezone(dt.UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def now_str() -> str:
    return rfc3339(now())


def parse(value: object) -> dt.datetime:
    """Parse an RFC 3339 string (or a datetime YAML already made of one)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 time, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def age_seconds(value: dt.datetime, *, at: float | None = None) -> float:
    return (time.time() if at is None else at) - value.timestamp()


def from_timestamp(value: float) -> dt.datetime:
    """A Unix time (as tmux reports it) as a UTC datetime, whole seconds."""
    return dt.datetime.fromtimestamp(value, dt.UTC).replace(microsecond=0)
