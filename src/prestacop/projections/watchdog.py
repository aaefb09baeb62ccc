"""A runner alive but stalled (a hung connection, a lost wake-up) must not be silent."""

from __future__ import annotations

import logging
import time

from prestacop.projections.worker import Worker

log = logging.getLogger("prestacop.projections.runner")


class Watchdog:
    """Logs a warning when the log moves and no build commits for ``after`` seconds."""

    def __init__(self, after: float = 10.0) -> None:
        self.after = after
        self._seen: tuple[int, ...] = ()
        self._since = time.monotonic()
        self.alarms = 0

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
