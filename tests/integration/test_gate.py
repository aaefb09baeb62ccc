"""Every kind of bad message stays in the log and is set aside with its reason."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from nats.js.errors import NotFoundError

from prestacop.bootstrap import LogClient, run_gate
from prestacop.domain import subjects
from prestacop.drone import DroneClient
from prestacop.gate.records import Quarantined
from prestacop.gate.service import CONSUMER, LIVE_STREAMS, GateCounters, read_quarantine
from tests import factories
from tests.conftest import wait_until
from tests.factories import wire

NOW = datetime.now(UTC)


def position(drone: str = "d1", **overrides: object) -> dict[str, object]:
    return wire(factories.position("p-" + drone, drone, time=NOW), **overrides)


def violation(**overrides: object) -> dict[str, object]:
    return wire(factories.violation("p-d1", 21, time=NOW, image_id="img-x"), **overrides)


@pytest.fixture(scope="module")
async def gate(nats_url: str, log: LogClient) -> AsyncIterator[GateCounters]:
    stop = asyncio.Event()
    counters = GateCounters()
    task = asyncio.create_task(run_gate(nats_url, stop, counters=counters))

    async def judged_the_backlog() -> bool:  # what earlier tests left in the module's log
        if task.done():
            return True
        for stream in LIVE_STREAMS:
            with contextlib.suppress(NotFoundError):
                info = await log.js.consumer_info(stream, CONSUMER)
                if info.num_pending or info.num_ack_pending:
                    return False
        return True

    await wait_until(judged_the_backlog, timeout=240, what="the gate through the backlog")
    yield counters
    stop.set()
    await asyncio.wait_for(task, 10)


async def stored(log: LogClient, stream: str, seq: int) -> bytes:
    return (await log.js.get_msg(stream, seq)).data or b""


async def quarantined_at(log: LogClient, tenant: str, stream: str, seq: int) -> Quarantined:
    found: list[Quarantined] = []

    async def there() -> bool:
        found[:] = [r for r in await read_quarantine(log.source, tenant) if r.seq == seq]
        return bool(found) and found[0].stream == stream

    await wait_until(there, timeout=10, what=f"quarantine record for {stream}/{seq}")
    return found[0]


CASES = [
    ("bad JSON", "position", b'{"type": "position", "message_id": ', "bad_json", "truncated"),
    ("unknown type", "position", position(type="teleport"), "unknown_type", "$.type"),
    ("latitude 91", "position", position(latitude=91), "invalid_field", "$.latitude"),
    (
        "time far in the future",
        "position",
        position(time=(NOW + timedelta(days=2)).isoformat()),
        "future_time",
        "$.time",
    ),
    ("unknown code", "violation", violation(violation_code=94), "unknown_code", "94"),
    ("no image id", "violation", violation(image_id=None), "missing_image", "$.image_id"),
    ("image not uploaded", "violation", violation(), "missing_image", "img-x"),
    ("another drone's id", "position", position(drone="d2"), "subject_mismatch", "drone_id"),
    (
        "a time without zone",
        "position",
        position(time="2026-01-01T10:00:00"),
        "invalid_field",
        "$.time",
    ),
]


@pytest.mark.parametrize(
    ("case", "kind", "body", "reason", "where"), CASES, ids=[c[0] for c in CASES]
)
async def test_a_bad_message_is_kept_and_set_aside_with_its_reason(
    log: LogClient,
    tenant: str,
    gate: GateCounters,
    case: str,
    kind: str,
    body: object,
    reason: str,
    where: str,
) -> None:
    data = body if isinstance(body, bytes) else msgspec.json.encode(body)
    subject = (
        subjects.position(tenant, "d1") if kind == "position" else subjects.violation(tenant, "d1")
    )
    ack = await log.publisher.publish_and_wait(subject, data)

    assert await stored(log, ack.stream, ack.seq) == data  # kept in the log, as sent
    record = await quarantined_at(log, tenant, ack.stream, ack.seq)
    assert record.reason == reason
    assert where in record.detail
    assert record.payload == data and record.subject == subject


async def test_an_unknown_subject_under_drone_is_set_aside(
    log: LogClient, tenant: str, gate: GateCounters
) -> None:
    subject = f"prestacop.{tenant}.drone.d1.selfie"
    ack = await log.publisher.publish_and_wait(subject, b"\x00\xff binary")
    record = await quarantined_at(log, tenant, ack.stream, ack.seq)
    assert record.reason == "unknown_subject" and record.payload == b"\x00\xff binary"


async def test_valid_messages_are_not_set_aside(
    log: LogClient, tenant: str, gate: GateCounters
) -> None:
    drone = await DroneClient(tenant, "ok", log=log).connect()
    await drone.report_violation(21, b"jpeg", 40.7, -73.9)
    last = await drone.report_position(40.7, -73.9)
    sentinel = await log.publisher.publish_and_wait(subjects.position(tenant, "ok"), b"not json")
    await quarantined_at(log, tenant, sentinel.stream, sentinel.seq)  # the gate passed them
    records = await read_quarantine(log.source, tenant)
    assert [r.seq for r in records] == [sentinel.seq]
    assert last.seq < sentinel.seq
