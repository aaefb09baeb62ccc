"""The gate rides out a NATS outage: a quarantine record whose ack was lost with the server
is sent again (same record key: stored once), instead of ending the gate (an ``AckTimeout``
ended ``prestacop gate run`` on the 8th of 8 short cuts, and nothing restarted it)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prestacop.bootstrap import open_log
from prestacop.domain import subjects
from prestacop.gate.records import quarantine_record
from prestacop.gate.service import Gate, read_quarantine
from prestacop.runtime.embedded import EmbeddedRuntime

ACK_TIMEOUT_S = 0.3


@pytest.fixture
def own_nats() -> Iterator[EmbeddedRuntime]:
    """A nats-server of this test's own: it is frozen, the session's is not."""
    home = Path(tempfile.mkdtemp(prefix="prestacop-gate-outage-"))
    runtime = EmbeddedRuntime(home, postgres=False)
    runtime.start()
    yield runtime
    runtime.stop()
    shutil.rmtree(home, ignore_errors=True)


async def test_a_quarantine_record_whose_ack_was_lost_is_sent_again_and_stored_once(
    own_nats: EmbeddedRuntime, tenant: str
) -> None:
    assert own_nats.urls is not None
    client = await open_log(own_nats.urls.nats_url, "gate-test", ack_timeout=ACK_TIMEOUT_S)
    gate = Gate(client.source, client.publisher, client.images)
    record = quarantine_record(
        subjects.DRONES.name, 7, subjects.position(tenant, "d1"), datetime.now(UTC),
        "bad_json", "not JSON", b"garbage",
    )  # fmt: skip
    pid = own_nats.urls.nats_pid
    os.kill(pid, signal.SIGSTOP)  # the server takes the record but answers nothing
    try:
        storing = asyncio.create_task(gate.quarantine(record))
        # several ack timeouts pass: the record must still be on its way, not failed
        await asyncio.wait({storing}, timeout=ACK_TIMEOUT_S * 4)
        assert not storing.done() or storing.exception() is None, storing.exception()
    finally:
        os.kill(pid, signal.SIGCONT)
    await asyncio.wait_for(storing, 15)
    try:
        records = await read_quarantine(client.source, tenant)
        assert [(r.seq, r.reason) for r in records] == [(7, "bad_json")]
    finally:
        await client.close()
