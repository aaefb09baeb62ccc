"""A drift-free ticker: tick k is due at ``start + k / rate``, whatever sleeping costs.

Sleeping a fixed interval after each send drifts (the send and the oversleep add
up); computing each due time from the start does not. When the sender falls
behind, the ticks already due are handed out at once (bounded), so the average
rate holds and the lag is visible instead of silently lowering the rate.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable


class Ticker:
    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        max_batch: int = 1000,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0 ticks per second, got {rate}")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._max_batch = max_batch
        self._start = clock()
        self.ticks = 0
        self.lag_s = 0.0
        """How late the oldest tick handed out last was (0 when keeping up)."""

    async def due(self) -> int:
        """Wait for the next due tick; return how many ticks are due now (at least 1)."""
        next_at = self._start + self.ticks / self.rate
        now = self._clock()
        if next_at > now:
            await self._sleep(next_at - now)
            now = self._clock()
        due = math.floor((now - self._start) * self.rate) + 1 - self.ticks
        count = max(1, min(due, self._max_batch))
        self.lag_s = max(0.0, now - next_at)
        self.ticks += count
        return count
