"""Registered custom views run with the built-ins, and status says when a view is not updated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prestacop.adapters.postgres_projections import Build
from prestacop.projections.catalog import BUILTINS, ProjectionNotFound, registered, select
from prestacop.projections.examples.repeat_offenders import RepeatOffenders
from prestacop.projections.status import BuildStatus

SPEC = "prestacop.projections.examples.repeat_offenders:RepeatOffenders"
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def test_a_configured_custom_view_runs_with_all_the_built_ins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRESTACOP_PROJECTIONS", f"{SPEC}, {SPEC}")
    assert SPEC in registered()
    chosen, sources = select(None)
    assert chosen == [*BUILTINS.values(), RepeatOffenders]
    assert sources == {RepeatOffenders.name: SPEC}
    chosen, _ = select(None, [SPEC])  # named and registered: once
    assert chosen.count(RepeatOffenders) == 1
    assert RepeatOffenders not in select(["violations"])[0]  # names given: only those


def test_a_registered_view_that_cannot_load_is_an_error_not_a_silent_skip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRESTACOP_PROJECTIONS", "nowhere.module:Nothing")
    with pytest.raises(ProjectionNotFound, match="nowhere"):
        select(None)


def status(lag: int, updated: datetime | None) -> BuildStatus:
    build = Build("drone_days", 1, "s", "live", "x")
    return BuildStatus(build, {}, {}, lag, 0.0, 0.0, 0, 0, None, updated_at=updated)


def test_status_flags_a_view_behind_the_log_that_nothing_updates() -> None:
    assert status(5, NOW - timedelta(minutes=5)).stalled(NOW)
    assert status(5, None).stalled(NOW)
    assert not status(5, NOW - timedelta(seconds=5)).stalled(NOW)
    assert not status(0, NOW - timedelta(days=5)).stalled(NOW)  # caught up, just quiet
