"""What the demo shows: counts read from the log itself, and each service's state.

Counts come from JetStream (messages per subject, for the demo's tenant), not
from the services' own counters, so the screen shows what was really stored.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from rich.console import Group
from rich.table import Table

from prestacop.demo.services import Service
from prestacop.domain.subjects import ALERTS, DRONES, HISTORY, QUARANTINE, ROOT


@dataclass(frozen=True)
class Row:
    label: str
    stream: str
    kind: str
    """Subject pattern after ``prestacop.<tenant>.``."""


ROWS = (
    Row("positions", DRONES.name, "drone.*.position"),
    Row("violations", DRONES.name, "drone.*.violation"),
    Row("human-review alerts", ALERTS.name, "review.*"),
    Row("alert activity (claims, decisions)", ALERTS.name, "alert.>"),
    Row("NYPD history", HISTORY.name, "history.>"),
    Row("quarantined (invalid)", QUARANTINE.name, "quarantine.*"),
)


@dataclass
class ServiceState:
    service: Service
    state: str = "starting"
    error: str | None = None


@dataclass
class Board:
    """The numbers on the screen; ``refresh`` reads them again from the log."""

    js: JetStreamContext
    tenant: str
    nats_url: str
    services: dict[str, ServiceState] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    _last: float = 0.0

    async def count(self, row: Row) -> int:
        subject = f"{ROOT}.{self.tenant}.{row.kind}"
        info = await self.js.stream_info(row.stream, subjects_filter=subject)
        return sum((info.state.subjects or {}).values())

    async def refresh(self) -> None:
        now = time.monotonic()
        counts = await asyncio.gather(*(self.count(row) for row in ROWS))
        for row, count in zip(ROWS, counts, strict=True):
            if self._last:
                previous = self.counts.get(row.label, 0)
                self.rates[row.label] = (count - previous) / max(now - self._last, 1e-6)
            self.counts[row.label] = count
        self._last = now

    def render(self) -> Group:
        log = Table(
            title=f"PrestaCop demo: tenant [bold]{self.tenant}[/], {self.nats_url}, "
            f"{time.monotonic() - self.started:.0f}s (Ctrl-C stops)",
            title_justify="left",
        )
        log.add_column("in the log")
        log.add_column("stream")
        log.add_column("messages", justify="right")
        log.add_column("per second", justify="right")
        for row in ROWS:
            style = "red" if row.stream == QUARANTINE.name and self.counts.get(row.label) else ""
            log.add_row(
                row.label,
                row.stream,
                f"{self.counts.get(row.label, 0):,}",
                f"{self.rates.get(row.label, 0.0):,.1f}",
                style=style,
            )
        running = Table(title="services", title_justify="left")
        running.add_column("service")
        running.add_column("state")
        running.add_column("status")
        for name, s in self.services.items():
            colour = {"running": "green", "failed": "bold red"}.get(s.state, "yellow")
            running.add_row(name, f"[{colour}]{s.state}[/]", s.error or s.service.status())
        return Group(log, running)

    def line(self) -> str:
        """One plain line of counts, for a headless run's log."""
        counts = ", ".join(f"{row.label} {self.counts.get(row.label, 0)}" for row in ROWS)
        return f"[{time.monotonic() - self.started:.0f}s] {counts}"
