"""Issue 9's NATS attacks, replayed as the role that tried them: refused, the other force intact."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from nats.errors import Error as NatsError
from nats.js.errors import APIError, NotFoundError

from prestacop.adapters.images import HEADER_ROOM, MAX_IMAGE_BYTES, ImageExists, ImageStore
from prestacop.adapters.nats_connection import CredentialsError, connect
from prestacop.adapters.publisher import AckTimeout, PublishError
from prestacop.bootstrap import LogClient, open_log
from prestacop.bootstrap import drone as drone_client
from prestacop.domain import subjects
from tests.conftest import wait_until
from tests.security.conftest import Secured, refused, settled


async def count(client: LogClient, stream: str, subject: str = ">") -> int:
    info = await settled(lambda: client.js.stream_info(stream, subjects_filter=subject))
    return sum((info.state.subjects or {}).values())


async def a_lapd_image(services: dict[str, LogClient]) -> str:
    image_id = uuid.uuid4().hex
    await services["lapd"].images.put("lapd", image_id, b"lapd-evidence", "image/jpeg")
    return image_id


async def test_a_drone_publishes_its_own_reports_and_images(
    secured: Secured, services: dict[str, LogClient], as_role: Callable[..., Path]
) -> None:
    async with drone_client("nypd", "d1", secured.url, creds=as_role("nypd", "drone", "d1")) as d:
        await d.report_position(40.7, -73.9)
        await d.report_violation(21, b"jpeg", 40.7, -73.9, image_id="img-d1")
    assert await services["nypd"].images.get("nypd", "img-d1") == b"jpeg"
    assert await services["lapd"].images.get("nypd", "img-d1") is None  # not in lapd's account


@pytest.mark.parametrize(
    "subject",
    [
        subjects.position("nypd", "d2"),  # another drone
        subjects.alert("nypd", "a1", "alice"),  # an officer's decision
        subjects.history("nypd", "d1"),  # the NYPD replay's history
        subjects.position("lapd", "d1"),  # another force's subject (and another account)
    ],
)
async def test_a_drone_cannot_publish_elsewhere(
    secured: Secured,
    services: dict[str, LogClient],
    as_role: Callable[..., Path],
    subject: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    drone = await open_log(
        secured.url, "d1", setup=False, ack_timeout=1.0, creds=as_role("nypd", "drone", "d1")
    )
    try:
        await refused(caplog, subject, drone.publisher.publish_and_wait(subject, b"{}"))
    finally:
        await drone.close()
    for force in ("nypd", "lapd"):
        for stream in (subjects.DRONES, subjects.ALERTS, subjects.HISTORY):
            assert await count(services[force], stream.name, subject) == 0


@pytest.mark.parametrize("wiretap", ["_INBOX.>", ">", "$O.>", "prestacop.>"])
async def test_a_drone_reads_nothing(
    secured: Secured, services: dict[str, LogClient], as_role: Callable[..., Path], wiretap: str
) -> None:
    errors: list[str] = []
    nc = await connect(secured.url, "tap", creds=as_role("nypd", "drone", "d1"))
    nc._error_cb = lambda e: errors.append(str(e))  # type: ignore[assignment,misc,return-value]
    heard: list[bytes] = []

    async def hear(msg: object) -> None:
        heard.append(msg.data)  # type: ignore[attr-defined]

    try:
        await nc.subscribe(wiretap, cb=hear)
        await nc.flush()
        # the force's own services work meanwhile: pulls, image reads, publishes
        await services["nypd"].publisher.publish_and_wait(subjects.position("nypd", "d7"), b"{}")
        await services["nypd"].images.put("nypd", uuid.uuid4().hex, b"x" * 1000, "image/jpeg")
        await a_lapd_image(services)
        await nc.flush()
    finally:
        await nc.close()
    assert heard == []
    assert any("permissions violation" in e.lower() for e in errors), errors


async def test_a_force_sees_only_its_own_streams_and_images(
    services: dict[str, LogClient],
) -> None:
    image_id = await a_lapd_image(services)
    nypd = services["nypd"]
    names = [s.config.name for s in await settled(nypd.js.streams_info)]
    assert "PRESTACOP_DRONES" in names
    # the image is not addressable from nypd's account, under any name
    assert await nypd.images.get("lapd", image_id) is None
    assert await services["lapd"].images.get("lapd", image_id) == b"lapd-evidence"


async def test_the_same_message_id_from_two_forces_is_stored_twice(
    services: dict[str, LogClient],
) -> None:
    msg_id = uuid.uuid4().hex
    for force in ("nypd", "lapd"):
        ack = await services[force].publisher.publish_and_wait(
            subjects.position(force, "d1"), b"{}", headers={"Nats-Msg-Id": msg_id}
        )
        assert not ack.duplicate, force


async def test_no_drone_can_replace_delete_purge_or_roll_up_an_image(
    secured: Secured,
    services: dict[str, LogClient],
    as_role: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    image_id = uuid.uuid4().hex
    async with drone_client("nypd", "d1", secured.url, creds=as_role("nypd", "drone", "d1")) as d:
        await d.log.images.put("nypd", image_id, b"evidence", "image/jpeg")
    nc = await connect(secured.url, "d2", creds=as_role("nypd", "drone", "d2"))
    js = nc.jetstream()
    subject = subjects.image("nypd", image_id)
    try:
        with pytest.raises(APIError):  # replace: a second message on the subject is refused
            await js.publish(subject, b"forged")
        with pytest.raises(APIError):  # the same, as a rollup
            await js.publish(subject, b"forged", headers={"Nats-Rollup": "all"})
        with pytest.raises(ImageExists):
            await ImageStore(js).put("nypd", image_id, b"forged", "image/jpeg")
        images = subjects.IMAGES.name
        await refused(caplog, f"$JS.API.STREAM.MSG.DELETE.{images}", js.delete_msg(images, 1))
        await refused(caplog, f"$JS.API.STREAM.PURGE.{images}", js.purge_stream(images))
    finally:
        await nc.close()
    assert await services["nypd"].images.get("nypd", image_id) == b"evidence"


async def test_even_a_service_cannot_alter_an_image(services: dict[str, LogClient]) -> None:
    """Write-once is the stream's rule, not a permission: it holds for every role."""
    image_id = uuid.uuid4().hex
    nypd = services["nypd"]
    await nypd.images.put("nypd", image_id, b"evidence", "image/jpeg")
    await nypd.images.put("nypd", image_id, b"evidence", "image/jpeg")  # a retry: fine
    with pytest.raises(APIError):
        await nypd.js.publish(
            subjects.image("nypd", image_id), b"x", headers={"Nats-Rollup": "sub"}
        )
    seq = (
        await nypd.js.get_msg(subjects.IMAGES.name, subject=subjects.image("nypd", image_id))
    ).seq
    with pytest.raises(APIError):
        await nypd.js.delete_msg(subjects.IMAGES.name, seq)
    with pytest.raises(APIError):
        await nypd.js.purge_stream(subjects.IMAGES.name)
    assert await nypd.images.get("nypd", image_id) == b"evidence"


async def test_an_oversized_image_is_refused_by_the_server(
    secured: Secured, services: dict[str, LogClient], as_role: Callable[..., Path]
) -> None:
    image_id = uuid.uuid4().hex
    nc = await connect(secured.url, "d1", creds=as_role("nypd", "drone", "d1"))
    try:  # around the client's own check, as a hostile drone would
        big = b"\0" * (MAX_IMAGE_BYTES + HEADER_ROOM + 1)
        sent = asyncio.ensure_future(nc.jetstream().publish(subjects.image("nypd", image_id), big))
        # the server says so and cuts the connection: the request alone would time out (5 s)
        await wait_until(lambda: sent.done() or nc.is_closed, what="the refusal")
        if sent.done():
            assert isinstance(sent.exception(), APIError | NatsError)
        else:
            assert "maximum payload violation" in str(nc.last_error)
            sent.cancel()
            await asyncio.gather(sent, return_exceptions=True)
    finally:
        await nc.close()
    assert await services["nypd"].images.get("nypd", image_id) is None


async def test_an_officer_cannot_delete_or_create_the_services_consumers(
    secured: Secured,
    services: dict[str, LogClient],
    as_role: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from nats.js.api import ConsumerConfig

    durable = "gate-" + uuid.uuid4().hex[:6]
    await settled(
        lambda: services["nypd"].js.add_consumer(
            subjects.DRONES.name, ConsumerConfig(durable_name=durable)
        )
    )
    nc = await connect(secured.url, "o1", creds=as_role("nypd", "officer", "o1"))
    try:
        jsm = nc.jetstream()
        drones = subjects.DRONES.name
        await refused(
            caplog, f"$JS.API.CONSUMER.DELETE.{drones}", jsm.delete_consumer(drones, durable)
        )
        await refused(
            caplog,
            "$JS.API.CONSUMER.",  # CREATE.<stream>.mine or DURABLE.CREATE.<stream>.mine
            jsm.add_consumer(drones, ConsumerConfig(durable_name="mine")),
        )
    finally:
        await nc.close()
    js = services["nypd"].js
    assert (await settled(lambda: js.consumer_info(subjects.DRONES.name, durable))).name
    with pytest.raises(NotFoundError):
        await settled(lambda: js.consumer_info(subjects.DRONES.name, "mine"))


async def test_the_replay_writes_history_only(
    secured: Secured,
    services: dict[str, LogClient],
    as_role: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    replay = await open_log(
        secured.url, "r", setup=False, ack_timeout=1.0, creds=as_role("nypd", "replay")
    )
    try:
        ack = await replay.publisher.publish_and_wait(subjects.history("nypd", "pct-1"), b"{}")
        assert ack.stream == subjects.HISTORY.name
        d9 = subjects.position("nypd", "d9")
        await refused(caplog, d9, replay.publisher.publish_and_wait(d9, b"{}"))
    finally:
        await replay.close()
    assert await count(services["nypd"], subjects.DRONES.name, subjects.position("nypd", "d9")) == 0


async def test_a_revoked_drone_is_refused_from_then_on(
    secured: Secured, services: dict[str, LogClient], as_role: Callable[..., Path]
) -> None:
    from prestacop.bootstrap import revoke

    drone_id = "d-" + uuid.uuid4().hex[:8]
    creds = as_role("nypd", "drone", drone_id)
    connected = await drone_client("nypd", drone_id, secured.url, creds=creds).connect()
    await connected.report_position(40.7, -73.9)
    await revoke(secured.url, secured.home, "nypd", "drone", drone_id)
    with pytest.raises(CredentialsError):
        await drone_client("nypd", drone_id, secured.url, creds=creds).connect()
    # the connection opened before the revocation is cut off too
    with pytest.raises((AckTimeout, PublishError, NatsError)):
        await asyncio.wait_for(connected.report_position(40.7, -73.9), 5)
    await connected.close()
    # other drones of the force are untouched
    async with drone_client("nypd", "d1", secured.url, creds=as_role("nypd", "drone", "d1")) as d:
        await d.report_position(40.7, -73.9)


async def test_no_credentials_no_connection(secured: Secured) -> None:
    with pytest.raises(CredentialsError):
        await connect(secured.url, "anonymous", creds=None)


def test_a_password_in_the_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(CredentialsError) as err:
        asyncio.run(connect("nats://user:s3cret-pw@127.0.0.1:1", "x"))
    assert "s3cret-pw" not in str(err.value)


async def test_the_secured_runtime_speaks_tls_only(secured: Secured, tmp_path: Path) -> None:
    """Without trusting the CA (or without TLS at all) no connection is made."""
    import socket

    host, port = secured.url.split(",")[0].removeprefix("nats://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        info = s.recv(4096)
    assert b'"tls_required":true' in info.replace(b" ", b"")
    other_ca = tmp_path / "other"
    from prestacop.security.tls import ensure_tls

    with pytest.raises(CredentialsError, match="certificate"):
        await connect(
            secured.url,
            "mitm",
            creds=secured.authority.service_creds("nypd"),
            tls_ca=ensure_tls(other_ca).ca,
        )


async def test_a_drone_hears_its_own_quarantine_verdicts_and_no_one_elses(
    secured: Secured, services: dict[str, LogClient], as_role: Callable[..., Path]
) -> None:
    from prestacop.gate.service import Gate
    from tests.conftest import wait_until
    from tests.integration.test_protocol_doc import read_back

    drone_id = "d-" + uuid.uuid4().hex[:8]
    heard: list[dict[str, object]] = []
    drone = await drone_client(
        "nypd", drone_id, secured.url, creds=as_role("nypd", "drone", drone_id)
    ).connect()
    await drone.on_feedback(heard.append)
    errors: list[str] = []
    spy = await connect(secured.url, "spy", creds=as_role("nypd", "drone", "d1"))
    spy._error_cb = lambda e: errors.append(str(e))  # type: ignore[assignment,misc,return-value]
    spied: list[bytes] = []

    async def spy_hear(msg: object) -> None:
        spied.append(msg.data)  # type: ignore[attr-defined]

    await spy.subscribe(subjects.feedback("nypd", drone_id), cb=spy_hear)
    try:
        subject = subjects.position("nypd", drone_id)
        bad = b'{"type": "position", "message_id": "m-1", "latitude": 91}'
        ack = await drone.log.publisher.publish_and_wait(subject, bad)
        svc = services["nypd"]
        gate = Gate(svc.js, svc.publisher, svc.images)
        record = await gate.judge(await read_back(svc.js, subject, ack.stream, ack.seq))
        assert record is not None
        await gate.quarantine(record)
        await wait_until(lambda: heard, what="the verdict")
        assert heard[0]["message_id"] == "m-1" and heard[0]["reason"] == "invalid_field"
        assert heard[0]["seq"] == ack.seq
        await spy.flush()
        assert spied == [] and any("permissions violation" in e.lower() for e in errors)
    finally:
        await spy.close()
        await drone.close()
