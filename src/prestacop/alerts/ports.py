"""What the alert desk and the console need of the world, as Protocols.

The JetStream adapter (``adapters/alert_feed.py``) implements ``AlertLog``; unit
tests use a fake. The console never imports an adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from prestacop.domain.alerts import Alert
from prestacop.domain.events import AlertEvent, AnyEvent


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One event as read from the log, with where and when the log stored it."""

    seq: int
    subject: str
    received_at: datetime
    event: AnyEvent


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A message on the alert stream that is not a valid event: shown, never dropped silently."""

    seq: int
    subject: str
    reason: str


@dataclass(frozen=True, slots=True)
class SetAside:
    """The gate set a review aside for its image (the quarantine stream): no alert."""

    alert_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class StartingBoard:
    """The alerts as of stream sequence ``seq`` (a snapshot): the feed goes on after it."""

    seq: int
    alerts: tuple[Alert, ...]


FeedItem = LogEntry | Unreadable | StartingBoard | SetAside
FeedState = Literal["connecting", "replaying", "live", "reconnecting"]


class StaleAlert(Exception):
    """Someone wrote on the alert's subject after the sequence this console knew."""


class AlertLogUnavailable(Exception):
    """The log did not answer (server away, timeout): nothing was written."""


class AlertLog(Protocol):
    """A tenant's alert stream: followed live, appended to under optimistic concurrency."""

    @property
    def tenant(self) -> str: ...

    async def follow(
        self, on_item: Callable[[FeedItem], None], on_state: Callable[[FeedState], None]
    ) -> None:
        """Push every item of the tenant's alert stream, from its start (or a
        ``StartingBoard`` and what came after it), then live."""
        ...

    async def append(self, event: AlertEvent, *, expected_last_seq: int) -> int:
        """Write on the alert's subject if its last sequence is still the one given.

        Returns the new stream sequence; ``StaleAlert`` if someone wrote first.
        """
        ...

    async def last_on_alert(self, alert_id: str) -> LogEntry | None: ...

    async def last_position(self, drone_id: str) -> LogEntry | None: ...

    async def image(self, image_id: str) -> bytes | None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ControlResult:
    argv: tuple[str, ...]
    exit_code: int | None
    """``None`` while it still runs (a control session that stays open)."""
    stdout: str
    stderr: str
    error: str | None = None
    """Why it could not even start (not found, not executable, bad template)."""

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.exit_code in (0, None)

    def summary(self) -> str:
        if self.error is not None:
            return self.error
        if self.exit_code is None:
            return "control software started and still running"
        tail = (self.stderr or self.stdout).strip().splitlines()[-3:]
        return f"exit code {self.exit_code}" + (": " + " / ".join(tail) if tail else "")


class DroneControl(Protocol):
    """The existing drone-control software, run with a drone id."""

    async def take_over(self, drone_id: str) -> ControlResult: ...
