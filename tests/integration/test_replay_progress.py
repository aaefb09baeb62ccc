"""Honest replay progress: under a low ``--max-rate`` rows and acknowledged events show up
within a second or so, not once per batch of 1000 rows (a minute at 20 rows/s)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from prestacop.bootstrap import replayer as Replayer
from prestacop.cli.nypd import batch_rows_for
from prestacop.nypd_replay.checkpoint import Counters
from prestacop.nypd_replay.frames import Position
from prestacop.nypd_replay.replay import ReplayOptions


class Seen:
    def __init__(self) -> None:
        self.began = 0.0
        self.first_rows_after: float | None = None
        self.events = 0

    def started(self, name: str, layout: str, total: int | None, resumed: Position | None) -> None:
        self.began = time.monotonic()

    def advanced(self, counters: Counters, progress: int) -> None:
        if counters.rows_read and self.first_rows_after is None:
            self.first_rows_after = time.monotonic() - self.began
        self.events = max(self.events, counters.events)

    def status(self, message: str) -> None:
        pass


def test_batches_follow_a_low_max_rate() -> None:
    assert batch_rows_for(None) == 1000
    assert batch_rows_for(20) == 16
    assert batch_rows_for(400) == 100
    assert batch_rows_for(1_000_000) == 1000


async def test_rows_and_events_show_within_a_second_under_a_low_max_rate(
    nats_url: str, tenant: str, tmp_path: Path, shared_data: Path
) -> None:
    seen = Seen()
    opts = ReplayOptions(
        tenant=tenant,
        state_dir=tmp_path / "state",
        rejects=tmp_path / "rejects.csv",
        max_rate=100,
        batch_rows=batch_rows_for(100),
    )
    task = asyncio.create_task(
        Replayer(nats_url, opts, seen, parse_process=False).run(
            [str(shared_data / "nypd" / "fy2022_trunc_jernejvivod.csv")]
        )
    )
    deadline = time.monotonic() + 10
    while seen.first_rows_after is None or not seen.events:
        assert time.monotonic() < deadline, "no rows or events reported"
        await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert seen.first_rows_after is not None and seen.first_rows_after < 1.5
