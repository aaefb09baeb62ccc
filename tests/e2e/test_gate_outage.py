"""The gate's reader heals after a NATS restart: what comes after is judged, once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from prestacop.bootstrap import LogClient, open_log, run_gate
from prestacop.domain import subjects
from prestacop.gate.service import read_quarantine
from prestacop.runtime.embedded import EmbeddedRuntime
from tests.conftest import wait_until


async def send(log: LogClient, tenant: str, first: int, n: int, invalid: set[int]) -> None:
    """Positions, one in three invalid (latitude 91); the invalid ones' sequences noted."""
    for i in range(first, first + n):
        bad = i % 3 == 0
        body = {
            "type": "position", "message_id": f"p{i}", "v": 1, "drone_id": "d1",
            "time": datetime.now(UTC).isoformat(), "latitude": 91 if bad else 40.7,
            "longitude": -73.9,
        }  # fmt: skip
        ack = await log.publisher.publish_and_wait(
            subjects.position(tenant, "d1"), msgspec.json.encode(body)
        )
        if bad:
            invalid.add(ack.seq)


async def test_the_gate_judges_what_comes_after_a_nats_restart_and_each_message_once(
    tmp_path: Path, tenant: str
) -> None:
    # open (explicitly): a server of its own to restart under the gate
    runtime = EmbeddedRuntime(tmp_path / "rt", postgres=False, secure=False)
    urls = runtime.start()
    stop = asyncio.Event()
    gate: asyncio.Task[None] | None = None
    log = await open_log(urls.nats_url, "outage-drones")
    try:
        gate = asyncio.create_task(
            run_gate(urls.nats_url, stop, streams=(subjects.DRONES.name,), ack_wait=2.0)
        )
        invalid: set[int] = set()

        async def all_set_aside() -> bool:
            return {r.seq for r in await read_quarantine(log.source, tenant)} == invalid

        await send(log, tenant, 0, 150, invalid)
        await wait_until(all_set_aside, timeout=30, what="the first messages judged")
        runtime.kill_nats()
        await wait_until(lambda: not log.nc.is_connected, timeout=10, what="the server gone")
        runtime.restart_nats()
        await wait_until(lambda: log.nc.is_connected, timeout=20, what="the server back")
        await send(log, tenant, 150, 150, invalid)
        await wait_until(all_set_aside, timeout=60, what="the messages after the restart judged")
        assert not gate.done(), gate
        seqs = [r.seq for r in await read_quarantine(log.source, tenant)]
        assert len(seqs) == len(set(seqs)) == 100, "a message set aside twice, or one missed"
    finally:
        stop.set()
        if gate is not None:
            await asyncio.wait_for(gate, 20)
        await log.close()
        runtime.stop()
