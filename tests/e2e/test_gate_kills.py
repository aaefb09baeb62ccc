"""The gate SIGKILLed at random moments during a stream: every invalid message is set
aside exactly once (none skipped by a restarted gate, none recorded twice)."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime

import msgspec

from prestacop.bootstrap import LogClient
from prestacop.domain import subjects
from prestacop.gate.service import CONSUMER, read_quarantine
from tests.conftest import wait_until

KILLS = 5
MESSAGES = 3_000
GATE = (
    "import asyncio, sys\n"
    "from prestacop.bootstrap import run_gate\n"
    "asyncio.run(run_gate(sys.argv[1], asyncio.Event(), ack_wait=1.0))\n"
)


def start_gate(nats_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", GATE, nats_url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def message(tenant: str, i: int) -> tuple[str, bytes, bool]:
    """A position, valid or not (one in three has latitude 91)."""
    invalid = i % 3 == 0
    body = {
        "type": "position",
        "message_id": f"p{i}",
        "v": 1,
        "drone_id": "d1",
        "time": datetime.now(UTC).isoformat(),
        "latitude": 91 if invalid else 40.7,
        "longitude": -73.9,
    }
    return subjects.position(tenant, "d1"), msgspec.json.encode(body), invalid


async def test_gate_killed_during_a_stream_sets_every_invalid_message_aside_once(
    log: LogClient, nats_url: str, tenant: str
) -> None:
    rnd = random.Random()
    invalid: set[int] = set()

    async def load() -> None:
        for start in range(0, MESSAGES, 300):
            for i in range(start, start + 300):
                subject, data, bad = message(tenant, i)
                ack = await log.publisher.publish_and_wait(subject, data)
                if bad:
                    invalid.add(ack.seq)
            await asyncio.sleep(0.3)  # a steady stream while gates start and die (pacing)

    loading = asyncio.create_task(load())
    seen = 0

    async def more_records() -> bool:
        judged = len(await read_quarantine(log.source, tenant))
        # a new verdict, or none left to give (the stream ended and every one is set aside)
        return judged > seen or (loading.done() and judged >= len(invalid))

    proc: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(KILLS):
            proc = start_gate(nats_url)
            await wait_until(more_records, timeout=20, what="the gate judging")
            await asyncio.sleep(rnd.uniform(0.0, 0.3))  # kill it anywhere in its work
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
            seen = len(await read_quarantine(log.source, tenant))
        await loading
        proc = start_gate(nats_url)

        async def all_judged() -> bool:
            info = await log.js.consumer_info(subjects.DRONES.name, CONSUMER)
            return info.num_pending == 0 and info.num_ack_pending == 0

        try:
            await wait_until(all_judged, timeout=30, what="every message judged")
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 20)
    finally:
        loading.cancel()
        if proc is not None and proc.poll() is None:  # a failed wait leaves no gate behind
            proc.kill()
            await asyncio.to_thread(proc.wait)
    records = await read_quarantine(log.source, tenant)
    seqs = [r.seq for r in records]
    assert len(seqs) == len(set(seqs)), "a message was set aside twice"
    assert set(seqs) == invalid, f"{len(invalid - set(seqs))} invalid messages never set aside"
