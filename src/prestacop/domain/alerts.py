"""The life of a human-review alert as pure ``decide``/``evolve`` functions.

An alert is a violation a drone could not qualify (code 0). Its life is written
on its own subject: claimed, released, control taken, decided. ``evolve`` folds
those events (in log order) into an ``Alert``; ``decide`` turns an officer's
command into the next event or refuses it with the reason. Two officers racing
are settled by the log (expected last subject sequence), not here: ``decide``
only keeps a console from asking for what it can already see is impossible.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, TypedDict

from prestacop.domain.events import (
    HUMAN_REVIEW_CODE,
    AlertClaimed,
    AlertEvent,
    AlertReleased,
    AnyEvent,
    DroneControlTaken,
    OperatorDecisionRecorded,
    ViolationReported,
)

Status = Literal["open", "claimed", "resolved"]


class AlertRefused(Exception):
    """An officer's command that the alert's state does not allow, with the reason."""


@dataclass(frozen=True, slots=True)
class Alert:
    """What an officer needs to know of one alert, as of ``last_seq`` on its subject."""

    alert_id: str
    violation: ViolationReported | None
    raised_at: datetime
    """When the log received the violation (the drone's clock may drift)."""
    status: Status = "open"
    holder: str | None = None
    open_since: datetime | None = None
    """Since when nobody holds it: raised, or last released (shown, not used to rank)."""
    decision: OperatorDecisionRecorded | None = None
    controls: tuple[DroneControlTaken, ...] = ()
    last_seq: int = 0
    """Stream sequence of the last message on the alert's own subject; 0 when none yet."""

    @property
    def drone_id(self) -> str:
        return self.violation.drone_id if self.violation else "?"

    def waiting(self, now: datetime) -> timedelta:
        """How long an unheld alert has waited: since it was raised, even if it was released
        meanwhile (the car does not wait for the officers); zero while someone holds it."""
        if self.status != "open":
            return timedelta(0)
        return now - self.raised_at

    def age(self, now: datetime) -> timedelta:
        return now - self.raised_at


# Commands: what an officer asks for.
@dataclass(frozen=True, slots=True)
class Claim:
    officer_id: str


@dataclass(frozen=True, slots=True)
class Release:
    officer_id: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RecordControl:
    officer_id: str
    succeeded: bool
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Resolve:
    officer_id: str
    corrected_code: int | None
    """The right violation code, or ``None`` for "no violation"."""
    note: str | None = None


Command = Claim | Release | RecordControl | Resolve


def decide(alert: Alert | None, command: Command, *, now: datetime, message_id: str) -> AlertEvent:
    """The event that carries out ``command``, or ``AlertRefused`` saying why not."""
    if alert is None or alert.violation is None:
        raise AlertRefused("unknown alert: its violation has not reached this console")
    who = command.officer_id
    ids = _ids(message_id, alert.alert_id, alert.drone_id)
    if alert.status == "resolved":
        by = alert.decision.officer_id if alert.decision else "?"
        raise AlertRefused(f"already resolved by {by}")
    if isinstance(command, Claim):
        if alert.status == "claimed":
            raise AlertRefused(
                "you already hold it" if alert.holder == who else f"held by {alert.holder}"
            )
        return AlertClaimed(**ids, officer_id=who, time=now)
    if alert.holder != who:
        held = f"held by {alert.holder}" if alert.holder else "nobody holds it"
        raise AlertRefused(f"claim it first ({held})")
    if isinstance(command, Release):
        return AlertReleased(**ids, officer_id=who, time=now, note=command.note)
    if isinstance(command, RecordControl):
        return DroneControlTaken(
            **ids, officer_id=who, time=now, succeeded=command.succeeded, detail=command.detail
        )
    if command.corrected_code == HUMAN_REVIEW_CODE:
        raise AlertRefused("code 0 asks for review: pick a violation code or 'no violation'")
    return OperatorDecisionRecorded(
        **ids,
        officer_id=who,
        time=now,
        corrected_code=command.corrected_code,
        note=command.note,
    )


class _Ids(TypedDict):
    message_id: str
    alert_id: str
    drone_id: str


def _ids(message_id: str, alert_id: str, drone_id: str) -> _Ids:
    return {"message_id": message_id, "alert_id": alert_id, "drone_id": drone_id}


def evolve(alert: Alert | None, event: AnyEvent, *, seq: int, received_at: datetime) -> Alert:
    """The alert after ``event`` (read at stream sequence ``seq``, received at ``received_at``)."""
    if isinstance(event, ViolationReported):
        if alert is not None:  # its life was read first: keep it, add the violation
            return replace(alert, violation=event, raised_at=received_at)
        return Alert(event.message_id, event, raised_at=received_at, open_since=received_at)
    if not isinstance(
        event, AlertClaimed | AlertReleased | DroneControlTaken | OperatorDecisionRecorded
    ):
        raise TypeError(f"{type(event).__name__} is not part of an alert's life")
    if alert is None:
        alert = Alert(event.alert_id, None, raised_at=received_at, open_since=received_at)
    status, holder = transition(alert.status, alert.holder, event)
    alert = replace(alert, last_seq=seq, status=status, holder=holder)
    if isinstance(event, AlertReleased) and status == "open":
        return replace(alert, open_since=received_at)
    if isinstance(event, DroneControlTaken):
        return replace(alert, controls=(*alert.controls, event))
    if isinstance(event, OperatorDecisionRecorded):  # the latest counts, as in ``violations``
        return replace(alert, decision=event)
    return alert


def transition(status: Status, holder: str | None, event: AlertEvent) -> tuple[Status, str | None]:
    """The one rule of an alert's life, for the console's board and the ``alerts`` view alike.

    A decision is final: a claim or release read after it (another client, a race the log
    let through) is history, not a new state. A claim holds the alert, a release frees it,
    taking control changes neither. After a decision the holder is who held it then (the
    decider if nobody did).
    """
    if status == "resolved":
        return status, holder
    if isinstance(event, AlertClaimed):
        return "claimed", event.officer_id
    if isinstance(event, AlertReleased):
        return "open", None
    if isinstance(event, OperatorDecisionRecorded):
        return "resolved", holder or event.officer_id
    return status, holder


@dataclass(frozen=True, slots=True)
class Counts:
    open: int
    claimed: int
    resolved_today: int
    escalated: int


@dataclass
class AlertBoard:
    """Every alert of a tenant, folded from the log in order; what the console lists."""

    alerts: dict[str, Alert] = field(default_factory=dict)
    set_aside_ids: set[str] = field(default_factory=set)
    """Reviews the gate set aside (their image): no alert, whenever they are read."""

    def apply(self, event: AnyEvent, *, seq: int, received_at: datetime) -> Alert | None:
        """Fold one event of the alert stream; ``None`` if it is no part of an alert."""
        if isinstance(event, ViolationReported):
            if event.violation_code != HUMAN_REVIEW_CODE or event.message_id in self.set_aside_ids:
                return None
            key = event.message_id
        elif isinstance(
            event, AlertClaimed | AlertReleased | DroneControlTaken | OperatorDecisionRecorded
        ):
            key = event.alert_id
            known = self.alerts.get(key)
            if known is not None and seq <= known.last_seq:
                return known  # already folded (a redelivery after a reconnect)
        else:
            return None
        alert = evolve(self.alerts.get(key), event, seq=seq, received_at=received_at)
        self.alerts[key] = alert
        return alert

    def set_aside(self, alert_id: str) -> Alert | None:
        """The gate set this review aside (``gate/records.LATE_REASONS``): it is no alert to
        show; what officers did on it stays, as in the ``alerts`` view."""
        self.set_aside_ids.add(alert_id)
        alert = self.alerts.get(alert_id)
        if alert is None or alert.violation is None:
            return alert
        if alert.last_seq == 0:  # nobody touched it
            del self.alerts[alert_id]
            return None
        alert = self.alerts[alert_id] = replace(alert, violation=None)
        return alert

    def get(self, alert_id: str) -> Alert | None:
        return self.alerts.get(alert_id)

    def active(self) -> list[Alert]:
        """Open and claimed alerts, the longest waiting first."""
        live = [a for a in self.alerts.values() if a.status != "resolved" and a.violation]
        return sorted(live, key=lambda a: (a.raised_at, a.alert_id))

    def counts(self, *, now: datetime, day_start: datetime, escalate_after: timedelta) -> Counts:
        alerts: Iterable[Alert] = self.alerts.values()
        open_, claimed, resolved, escalated = 0, 0, 0, 0
        for a in alerts:
            if a.status == "open":
                open_ += 1
                escalated += is_escalated(a, now, escalate_after)
            elif a.status == "claimed":
                claimed += 1
            elif a.decision is not None and a.decision.time >= day_start:
                resolved += 1
        return Counts(open_, claimed, resolved, escalated)


def is_escalated(alert: Alert, now: datetime, after: timedelta) -> bool:
    """Unclaimed for longer than ``after``: the console highlights it."""
    return alert.status == "open" and alert.waiting(now) > after
