"""The log: topology, de-duplication, the drone SDK against a real nats-server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from prestacop.adapters.publisher import NoStreamError
from prestacop.adapters.topology import TopologyOptions, ensure_topology
from prestacop.bootstrap import LogClient
from prestacop.domain import subjects
from prestacop.drone import DroneClient, InvalidMessage


async def count_on(log: LogClient, stream: str, subject: str) -> int:
    info = await log.js.stream_info(stream, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def test_setup_is_idempotent(log: LogClient) -> None:
    again = await ensure_topology(log.js)
    assert any("kept stream PRESTACOP_DRONES" in line for line in again)
    info = await log.js.stream_info(subjects.DRONES.name)
    assert info.config.max_age in (0, None)
    assert info.config.storage == "file"


async def test_starting_a_program_never_changes_an_existing_stream(log: LogClient) -> None:
    """Only `prestacop setup` updates streams: a program asking for other replicas or limits
    on start (as gate run, simulate and the demo did) leaves them as they are."""
    before = (await log.js.stream_info(subjects.DRONES.name)).config
    await ensure_topology(log.js, TopologyOptions(drones_dedup_s=1.0, max_msg_bytes=1024))
    after = (await log.js.stream_info(subjects.DRONES.name)).config
    assert (after.duplicate_window, after.max_msg_size) == (
        before.duplicate_window,
        before.max_msg_size,
    )


async def test_a_message_sent_twice_is_stored_once(log: LogClient, tenant: str) -> None:
    drone = await DroneClient(tenant, "d1", log=log).connect()
    first = await drone.report_position(40.7, -73.9, message_id="m-1")
    again = await drone.report_position(40.7, -73.9, message_id="m-1")
    assert not first.duplicate and again.duplicate and again.seq == first.seq
    assert await count_on(log, subjects.DRONES.name, subjects.position(tenant, "d1")) == 1


async def test_a_violation_uploads_its_image_first(log: LogClient, tenant: str) -> None:
    drone = await DroneClient(tenant, "d2", log=log).connect()
    ack = await drone.report_violation(
        21, b"\xff\xd8jpeg", 40.75, -73.98, image_id="img-1", plate="ABC1234", confidence=0.93
    )
    assert ack.stream == subjects.DRONES.name
    assert await log.images.get(tenant, "img-1") == b"\xff\xd8jpeg"


async def test_a_review_violation_goes_to_the_alert_stream(log: LogClient, tenant: str) -> None:
    drone = await DroneClient(tenant, "d3", log=log).connect()
    ack = await drone.request_review(b"img", 40.75, -73.98)
    assert ack.stream == subjects.ALERTS.name


async def test_the_sdk_refuses_an_invalid_message(log: LogClient, tenant: str) -> None:
    drone = await DroneClient(tenant, "d4", log=log).connect()
    with pytest.raises(InvalidMessage, match=r"\$\.latitude"):
        await drone.report_position(91.0, 0.0)
    with pytest.raises(InvalidMessage, match="unknown_code"):
        await drone.report_violation(94, b"img", 40.7, -73.9)
    with pytest.raises(InvalidMessage, match="future_time"):
        await drone.report_position(40.7, -73.9, time=datetime(2100, 1, 1, tzinfo=UTC))


async def test_publishing_outside_the_protocol_is_refused(log: LogClient, tenant: str) -> None:
    with pytest.raises(NoStreamError):
        await log.publisher.publish_and_wait(f"prestacop.{tenant}.elsewhere.x", b"{}")
