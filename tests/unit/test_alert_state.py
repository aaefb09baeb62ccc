"""The alert's life as pure decide/evolve: who may do what, and what the board counts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from prestacop.domain.alerts import (
    AlertBoard,
    AlertRefused,
    Claim,
    RecordControl,
    Release,
    Resolve,
    decide,
    evolve,
    is_escalated,
)
from prestacop.domain.events import (
    AlertClaimed,
    AlertReleased,
    DroneControlTaken,
    OperatorDecisionRecorded,
    PositionReported,
)
from prestacop.projections.views.alerts import evolve as evolve_row
from prestacop.projections.views.alerts import new_alert
from tests.factories import T0, claimed, control, decided, released, violation


def board_with(*events: object) -> AlertBoard:
    board = AlertBoard()
    for seq, event in enumerate(events, start=1):
        board.apply(event, seq=seq, received_at=T0 + timedelta(seconds=seq))  # type: ignore[arg-type]
    return board


def test_a_new_alert_is_open_and_can_be_claimed() -> None:
    alert = board_with(violation()).get("a1")
    assert alert is not None and alert.status == "open" and alert.last_seq == 0
    event = decide(alert, Claim("alice"), now=T0, message_id="m1")
    assert isinstance(event, AlertClaimed)
    assert (event.alert_id, event.drone_id, event.officer_id) == ("a1", "d1", "alice")


def test_an_alert_held_by_someone_else_cannot_be_claimed() -> None:
    alert = board_with(violation(), claimed("alice")).get("a1")
    with pytest.raises(AlertRefused, match="held by alice"):
        decide(alert, Claim("bob"), now=T0, message_id="m")
    with pytest.raises(AlertRefused, match="you already hold it"):
        decide(alert, Claim("alice"), now=T0, message_id="m")


def test_only_the_holder_releases_takes_control_or_resolves() -> None:
    alert = board_with(violation(), claimed("alice")).get("a1")
    for command in (Release("bob"), RecordControl("bob", True), Resolve("bob", 21)):
        with pytest.raises(AlertRefused, match="claim it first"):
            decide(alert, command, now=T0, message_id="m")
    assert isinstance(decide(alert, Release("alice"), now=T0, message_id="m"), AlertReleased)
    control = decide(alert, RecordControl("alice", False, "exit 3"), now=T0, message_id="m")
    assert isinstance(control, DroneControlTaken) and not control.succeeded
    verdict = decide(alert, Resolve("alice", None, "no car"), now=T0, message_id="m")
    assert isinstance(verdict, OperatorDecisionRecorded) and verdict.corrected_code is None


def test_a_resolved_alert_accepts_nothing_more() -> None:
    decision = decided("alice", "a1", 21)
    alert = board_with(violation(), claimed("alice"), decision).get("a1")
    assert alert is not None and alert.status == "resolved" and alert.decision == decision
    with pytest.raises(AlertRefused, match="already resolved by alice"):
        decide(alert, Claim("bob"), now=T0, message_id="m")


def test_code_zero_is_not_a_decision() -> None:
    alert = board_with(violation(), claimed("alice")).get("a1")
    with pytest.raises(AlertRefused, match="code 0"):
        decide(alert, Resolve("alice", 0), now=T0, message_id="m")


def test_an_unknown_alert_is_refused_with_a_reason() -> None:
    with pytest.raises(AlertRefused, match="unknown alert"):
        decide(None, Claim("alice"), now=T0, message_id="m")


def test_a_released_alert_is_open_again_and_still_waits_from_when_it_was_raised() -> None:
    released = AlertReleased(
        message_id="r", alert_id="a1", drone_id="d1", officer_id="alice", time=T0
    )
    alert = board_with(violation(), claimed("alice"), released).get("a1")
    assert alert is not None and alert.status == "open" and alert.holder is None
    assert alert.last_seq == 3
    assert alert.open_since == T0 + timedelta(seconds=3)
    assert alert.waiting(T0 + timedelta(seconds=10)) == timedelta(seconds=9)


def test_a_redelivered_event_is_folded_once() -> None:
    board = board_with(violation(), claimed("alice"))
    control = DroneControlTaken(
        message_id="x", alert_id="a1", drone_id="d1", officer_id="alice", time=T0, succeeded=True
    )
    board.apply(control, seq=3, received_at=T0)
    board.apply(control, seq=3, received_at=T0)
    alert = board.get("a1")
    assert alert is not None and len(alert.controls) == 1


def test_the_board_ignores_what_is_not_an_alert() -> None:
    position = PositionReported(message_id="p", drone_id="d1", time=T0, latitude=1, longitude=1)
    board = board_with(violation("v21", code=21), position)
    assert board.alerts == {}


def test_life_read_before_its_violation_is_kept() -> None:
    alert = evolve(None, claimed("alice"), seq=5, received_at=T0)
    alert = evolve(alert, violation(), seq=4, received_at=T0)
    assert alert.status == "claimed" and alert.violation is not None and alert.last_seq == 5


def test_counts_and_escalation() -> None:
    decision = decided("bob", "a2", None)
    board = board_with(
        violation("a1"),
        violation("a2"),
        claimed("bob", "a2"),
        decision,
        violation("a3"),
        claimed("alice", "a3"),
    )
    now = T0 + timedelta(minutes=3)
    counts = board.counts(
        now=now, day_start=T0 - timedelta(hours=12), escalate_after=timedelta(minutes=2)
    )
    assert (counts.open, counts.claimed, counts.resolved_today, counts.escalated) == (1, 1, 1, 1)
    assert [a.alert_id for a in board.active()] == ["a1", "a3"]
    assert is_escalated(board.get("a1"), now, timedelta(minutes=2))  # type: ignore[arg-type]
    assert not is_escalated(board.get("a3"), now, timedelta(minutes=2))  # type: ignore[arg-type]
    tomorrow = board.counts(
        now=now, day_start=T0 + timedelta(hours=1), escalate_after=timedelta(minutes=2)
    )
    assert tomorrow.resolved_today == 0


@pytest.mark.parametrize(
    "life",
    [
        [claimed("alice"), decided("alice"), claimed("bob")],
        [claimed("alice"), decided("alice"), released("alice")],
        [claimed("alice"), released("alice"), claimed("bob"), control("bob"), decided("carol")],
        [decided("alice"), claimed("bob")],
        [claimed("alice"), decided("alice", code=None), decided("bob", code=14)],
    ],
)
def test_the_console_and_the_alerts_view_agree_on_every_life(life: list[object]) -> None:
    """One state machine: a claim read after a decision leaves it resolved in both."""
    alert = board_with(violation(), *life).get("a1")
    row = new_alert("t", "a1", "d1", 1)
    for seq, event in enumerate([violation(), *life], start=1):
        evolve_row(row, event, seq)  # type: ignore[arg-type]
    assert alert is not None
    assert (row["status"], row["claimed_by"]) == (alert.status, alert.holder)
    assert alert.status == "resolved"
    assert alert.decision is not None and row["decided_by"] == alert.decision.officer_id
