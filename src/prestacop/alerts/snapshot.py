"""A force's alert board at a stream sequence: where a console starts instead of year one.

Consoles write it (the feed folds its own board, in order) to a key of the
``PRESTACOP_ALERT_BOARDS`` key-value bucket; a console that starts reads it, then
follows the alert stream from just after its sequence. It holds the open and
claimed alerts and those resolved today: its size, and so a console's start, does
not grow with the years of alerts behind it. A snapshot that cannot be read (an
older format, damage) is ignored: the console reads the stream from its start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from prestacop.alerts.ports import LogEntry
from prestacop.domain.alerts import Alert, AlertBoard

BUCKET = "PRESTACOP_ALERT_BOARDS"
VERSION = 1


class Snapshot(msgspec.Struct, frozen=True):
    version: int
    seq: int
    """The alert stream's sequence the board is folded to (the tenant's messages only)."""
    alerts: list[Alert]


def encode(seq: int, board: AlertBoard, now: datetime) -> bytes:
    start = day_start(now)
    alerts = [a for a in board.alerts.values() if not resolved_before(a, start)]
    return msgspec.json.encode(Snapshot(VERSION, seq, alerts))


def decode(data: bytes) -> Snapshot | None:
    try:
        snap = msgspec.json.decode(data, type=Snapshot)
    except msgspec.DecodeError:
        return None
    return snap if snap.version == VERSION else None


def resolved_before(alert: Alert, day_start: datetime) -> bool:
    """Resolved before ``day_start``: nothing shows or counts it any more."""
    return (
        alert.decision is not None
        and alert.status == "resolved"
        and (alert.decision.time < day_start)
    )


def day_start(now: datetime) -> datetime:
    """The start of the local day (what "resolved today" counts from)."""
    return now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class FoldedBoard:
    """The board a feed folds for its snapshots: resolved alerts let go after their day."""

    board: AlertBoard = field(default_factory=AlertBoard)
    seq: int = 0
    _today: datetime | None = None

    def fold(self, entry: LogEntry, now: datetime) -> None:
        alert = self.board.apply(entry.event, seq=entry.seq, received_at=entry.received_at)
        self.seq = entry.seq
        if alert is not None and resolved_before(alert, self._day(now)):
            del self.board.alerts[alert.alert_id]

    def _day(self, now: datetime) -> datetime:
        if self._today is None or not self._today <= now < self._today + timedelta(days=1):
            self._today = day_start(now)
        return self._today
