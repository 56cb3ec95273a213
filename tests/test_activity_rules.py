"""How hooks and tmux's output times combine into one activity (core/activity.py, SPEC 3.10)."""

from __future__ import annotations

import datetime as dt

from ctask_ls.core.activity import HOOK, IDLE, NEEDS_INPUT, OUTPUT, WORKING, Activity, HookRecord, current
from ctask_ls.core.tmux import PaneState

T0 = 1_800_000_000.0


def pane(output_at: float | None, *, sid: str = "s1", dead: bool = False) -> PaneState:
    return PaneState("ctask-t1", dead, None, None, 42, sid, T0 + 99 if dead else None, output_at)


def hooked(agent: str, state: str, event_at: float, sid: str = "s1") -> HookRecord:
    since = dt.datetime.fromtimestamp(event_at, dt.UTC)
    return HookRecord(sid, agent, Activity(state, since, HOOK), "conv", at=event_at)


def test_without_hooks_output_means_working_and_quiet_means_idle_since_the_last_output() -> None:
    assert current(None, pane(T0), idle_after=10, now=T0 + 3) == Activity(WORKING, _t(T0), OUTPUT)
    assert current(None, pane(T0), idle_after=10, now=T0 + 11) == Activity(IDLE, _t(T0), OUTPUT)
    assert current(None, None, idle_after=10, now=T0) is None, "no session, no activity"
    assert current(None, pane(T0, dead=True), idle_after=10, now=T0).state == "exited"  # type: ignore[union-attr]


def test_claude_hooks_speak_for_the_session_whatever_the_screen_does() -> None:
    record = hooked("claude", NEEDS_INPUT, T0)
    assert current(record, pane(T0 + 5), idle_after=10, now=T0 + 6) == record.activity, "a dialog redraws"
    other = hooked("claude", NEEDS_INPUT, T0, sid="old")
    assert current(other, pane(T0 + 5), idle_after=10, now=T0 + 6) == Activity(WORKING, _t(T0 + 5), OUTPUT)


def test_codex_output_after_its_last_finished_turn_is_a_new_turn_at_work() -> None:
    record = hooked("codex", IDLE, T0)
    assert current(record, pane(T0), idle_after=10, now=T0 + 5) == record.activity, "the turn's own last output"
    assert current(record, pane(T0 + 4), idle_after=10, now=T0 + 5) == Activity(WORKING, _t(T0 + 4), OUTPUT)
    quiet = current(record, pane(T0 + 4), idle_after=10, now=T0 + 20)
    assert quiet == Activity(IDLE, _t(T0 + 4), OUTPUT), "quiet again: idle since the last output"


def _t(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)
