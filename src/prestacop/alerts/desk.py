"""The alert desk: one officer's commands on alerts, checked, then appended under concurrency.

It keeps the ``AlertBoard`` folded from the feed, and for each command runs the
pure ``decide`` and appends the event with the alert's last known sequence. When
another officer wrote first, the log refuses and the desk reads the alert's last
message to say who has it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from prestacop.alerts.ports import (
    AlertLog,
    ControlResult,
    DroneControl,
    FeedItem,
    LogEntry,
    SetAside,
    StaleAlert,
    StartingBoard,
    Unreadable,
)
from prestacop.alerts.snapshot import day_start, resolved_before
from prestacop.domain import subjects
from prestacop.domain.alerts import (
    Alert,
    AlertBoard,
    AlertRefused,
    Claim,
    Command,
    RecordControl,
    Release,
    Resolve,
    decide,
)
from prestacop.domain.events import (
    AlertClaimed,
    AlertEvent,
    AlertReleased,
    DroneControlTaken,
    OperatorDecisionRecorded,
)


def new_id() -> str:
    return uuid.uuid4().hex


class AlertDesk:
    def __init__(
        self,
        log: AlertLog,
        officer_id: str,
        control: DroneControl,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_message_id: Callable[[], str] = new_id,
    ) -> None:
        self.log = log
        self.officer_id = officer_id
        self.control = control
        self.board = AlertBoard()
        self.unreadable: list[FeedItem] = []
        self._clock = clock
        self._new_id = new_message_id
        self._today: datetime | None = None

    def apply(self, item: FeedItem) -> Alert | None:
        """Fold one feed item; unreadable ones are kept to be shown, not dropped.

        An alert resolved before today is let go: nothing shows or counts it, and
        the board (what each refresh scans) stays the size of the open alerts and
        today's decisions, however long the history."""
        if isinstance(item, StartingBoard):
            self.board.alerts.update((a.alert_id, a) for a in item.alerts)
            return None
        if isinstance(item, SetAside):
            return self.board.set_aside(item.alert_id)
        if not isinstance(item, LogEntry):
            self.unreadable.append(item)
            if isinstance(item, Unreadable):
                self._step_over(item)
            return None
        alert = self.board.apply(item.event, seq=item.seq, received_at=item.received_at)
        if alert is not None and resolved_before(alert, self._day_start()):
            del self.board.alerts[alert.alert_id]
        return alert

    def _step_over(self, item: Unreadable) -> None:
        """An unreadable message on an alert's subject (say, a claim forged in another
        officer's name) is no part of its life, but the log counts it: the next write
        must expect it, or the alert could never be written again."""
        try:
            where = subjects.parse(item.subject)
        except subjects.SubjectError:
            return
        alert = self.board.get(where.key) if where.kind == "alert" else None
        if alert is not None and item.seq > alert.last_seq:
            self.board.alerts[alert.alert_id] = replace(alert, last_seq=item.seq)

    def _day_start(self) -> datetime:
        now = self._clock()
        if self._today is None or not self._today <= now < self._today + timedelta(days=1):
            self._today = day_start(now)
        return self._today

    async def claim(self, alert_id: str) -> AlertEvent:
        return await self._carry_out(alert_id, Claim(self.officer_id))

    async def release(self, alert_id: str, note: str | None = None) -> AlertEvent:
        return await self._carry_out(alert_id, Release(self.officer_id, note))

    async def resolve(
        self, alert_id: str, corrected_code: int | None, note: str | None = None
    ) -> AlertEvent:
        return await self._carry_out(alert_id, Resolve(self.officer_id, corrected_code, note))

    async def take_control(self, alert_id: str) -> tuple[ControlResult, str | None]:
        """Run the control software for the alert's drone, then record who did it and how.

        Returns the result and, if recording failed, why (the command's outcome is
        shown either way).
        """
        alert = self.board.get(alert_id)
        if alert is None or alert.holder != self.officer_id or alert.status != "claimed":
            held = alert.holder if alert else None
            raise AlertRefused(f"claim it first ({'held by ' + held if held else 'not held'})")
        result = await self.control.take_over(alert.drone_id)
        detail = " ".join(result.argv) + " -> " + result.summary()
        command = RecordControl(self.officer_id, result.succeeded, detail[:2000])
        try:
            await self._carry_out(alert_id, command)
        except Exception as err:  # the run happened anyway: say so, and why it is not in the log
            return result, f"not recorded: {err}"
        return result, None

    async def _carry_out(self, alert_id: str, command: Command) -> AlertEvent:
        alert = self.board.get(alert_id)
        event = decide(alert, command, now=self._clock(), message_id=self._new_id())
        assert alert is not None
        try:
            await self.log.append(event, expected_last_seq=alert.last_seq)
        except StaleAlert:
            raise AlertRefused(await self._who_has_it(alert_id)) from None
        return event

    async def _who_has_it(self, alert_id: str) -> str:
        last = await self.log.last_on_alert(alert_id)
        event = last.event if last else None
        if isinstance(event, AlertClaimed | DroneControlTaken):
            return f"refused: held by {event.officer_id}"
        if isinstance(event, OperatorDecisionRecorded):
            return f"refused: already resolved by {event.officer_id}"
        if isinstance(event, AlertReleased):
            return f"refused: {event.officer_id} released it meanwhile; try again"
        return "refused: the alert changed meanwhile; try again"
