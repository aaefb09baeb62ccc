"""A violation is bound to its image's bytes (protocol v2): the gate checks the stored image."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from prestacop.adapters.images import ImageStore
from prestacop.bootstrap import LogClient
from prestacop.domain import codec, subjects
from prestacop.domain.events import ViolationReported
from prestacop.gate.service import Gate
from tests.conftest import wait_until
from tests.integration.test_protocol_doc import read_back

IMAGE = b"\xff\xd8 the photograph"


def violation(tenant: str, image_id: str, **fields: object) -> tuple[str, bytes]:
    event = ViolationReported(
        message_id=uuid.uuid4().hex,
        drone_id="d1",
        time=datetime.now(UTC),
        latitude=40.7,
        longitude=-73.9,
        violation_code=21,
        image_id=image_id,
        **fields,  # type: ignore[arg-type]
    )
    return subjects.violation(tenant, "d1"), msgspec.json.encode(event)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"image_sha256": hashlib.sha256(IMAGE).hexdigest(), "image_size": len(IMAGE)}, None),
        (
            {"image_sha256": hashlib.sha256(b"other").hexdigest(), "image_size": len(IMAGE)},
            "image_mismatch",
        ),
        ({"image_sha256": hashlib.sha256(IMAGE).hexdigest(), "image_size": 1}, "image_mismatch"),
        ({"v": 1}, None),  # v1: read as v2 without a digest
    ],
)
async def test_the_gate_checks_the_image_a_violation_names(
    log: LogClient, tenant: str, fields: dict[str, object], reason: str | None
) -> None:
    image_id = uuid.uuid4().hex
    await log.images.put(tenant, image_id, IMAGE, "image/jpeg")
    subject, data = violation(tenant, image_id, **fields)
    ack = await log.publisher.publish_and_wait(subject, data)
    stored = await read_back(log.js, subject, ack.stream, ack.seq)
    verdict = await Gate(log.js, log.publisher, log.images).judge(stored)
    assert (verdict.reason if verdict else None) == reason
    assert codec.decode_event(data).v == 2


async def test_the_sdk_sends_v2_with_the_digest(log: LogClient, tenant: str) -> None:
    from prestacop.drone import DroneClient

    drone = await DroneClient(tenant, "d1", log=log).connect()
    ack = await drone.report_violation(21, IMAGE, 40.7, -73.9)
    stored = await read_back(log.js, subjects.violation(tenant, "d1"), ack.stream, ack.seq)
    event = codec.decode_event(stored.data)
    assert isinstance(event, ViolationReported)
    assert (event.v, event.image_sha256, event.image_size) == (
        2,
        hashlib.sha256(IMAGE).hexdigest(),
        len(IMAGE),
    )
    assert await Gate(log.js, log.publisher, log.images).judge(stored) is None


async def test_a_violation_arriving_before_its_image_is_judged_when_the_image_arrives(
    log: LogClient, tenant: str
) -> None:
    import asyncio

    image_id = uuid.uuid4().hex
    fields = {"image_sha256": hashlib.sha256(IMAGE).hexdigest(), "image_size": len(IMAGE)}
    subject, data = violation(tenant, image_id, **fields)
    ack = await log.publisher.publish_and_wait(subject, data)  # before its image
    stored = await read_back(log.js, subject, ack.stream, ack.seq)
    looked: list[str] = []

    class Watched(ImageStore):
        async def digest(self, tenant: str, image_id: str) -> tuple[str, int] | None:
            found = await super().digest(tenant, image_id)
            looked.append("found" if found else "missing")
            return found

    gate = Gate(log.js, log.publisher, Watched(log.js))
    gate.image_wait_s = 30.0  # bounded, and longer than a loaded machine's delays
    judging = asyncio.create_task(gate.judge(stored))
    await wait_until(lambda: "missing" in looked, what="the gate to find no image yet")
    await log.images.put(tenant, image_id, IMAGE, "image/jpeg")
    assert await judging is None
    assert looked[-1] == "found"


async def test_an_image_that_never_comes_is_missing_after_a_bounded_wait(
    log: LogClient, tenant: str
) -> None:
    import time

    subject, data = violation(tenant, uuid.uuid4().hex)
    ack = await log.publisher.publish_and_wait(subject, data)
    stored = await read_back(log.js, subject, ack.stream, ack.seq)
    gate = Gate(log.js, log.publisher, log.images)
    gate.image_wait_s = 0.5
    started = time.monotonic()
    verdict = await gate.judge(stored)
    assert verdict is not None and verdict.reason == "missing_image"
    assert time.monotonic() - started < 5
