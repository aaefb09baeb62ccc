"""A runner alive but stalled (a hung connection, a lost wake-up) must not be silent;
a runner alive says so (a heartbeat ``project status`` reads)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

from prestacop.ports.projection import ProjectionStore
from prestacop.projections.worker import Worker

log = logging.getLogger("prestacop.projections.runner")

#: Seconds between heartbeats; ``project status`` calls a runner alive within 3 of them.
HEARTBEAT_S = 2.0
RUNNER_ID = f"{socket.gethostname()}:{os.getpid()}"


class Watchdog:
    """Logs a warning when the log moves and no build commits for ``after`` seconds."""

    def __init__(self, after: float = 10.0) -> None:
        self.after = after
        self._seen: tuple[int, ...] = ()
        self._since = time.monotonic()
        self._beat = 0.0
        self.alarms = 0

    async def tick(
        self, store: ProjectionStore, workers: list[Worker], heads: dict[str, int]
    ) -> None:
        """Check for a stall; beat the heart every ``HEARTBEAT_S``."""
        self.check(workers, heads)
        if time.monotonic() - self._beat >= HEARTBEAT_S:
            await asyncio.to_thread(store.heartbeat, RUNNER_ID)
            self._beat = time.monotonic()

    def check(self, workers: list[Worker], heads: dict[str, int]) -> None:
        now = time.monotonic()
        committed = tuple(seq for w in workers for seq in w.committed.values())
        lag = sum(w.lag(heads) for w in workers)
        if committed != self._seen or lag == 0:
            self._seen, self._since = committed, now
        elif now - self._since > self.after:
            log.warning(
                "watchdog: %d events behind, nothing committed for %.0fs", lag, now - self._since
            )
            self.alarms += 1
            self._since = now
