"""The server itself refuses a publisher that writes where it does not belong."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from prestacop.adapters.publisher import AckTimeout, PublishError
from prestacop.bootstrap import LogClient, open_log
from prestacop.domain import subjects
from prestacop.drone import DroneClient
from prestacop.runtime.embedded import EmbeddedRuntime
from prestacop.security import permissions
from prestacop.security.permissions import User

USERS = [
    User("svc", "svc-pw"),
    User("drone-d1", "d1-pw", permissions.drone("nypd", "d1")),
    User("replay", "replay-pw", permissions.nypd_replay("nypd")),
    User("officer", "officer-pw", permissions.officer("nypd")),
]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    rt = EmbeddedRuntime(
        tmp_path_factory.mktemp("secured"),
        postgres=False,
        nats_config=permissions.render_authorization(USERS),
    )
    urls = rt.start()
    yield urls.nats_url
    rt.stop()


def as_user(url: str, user: str, password: str) -> str:
    return url.replace("nats://", f"nats://{user}:{password}@")


@pytest.fixture(scope="module")
async def service(secured: str) -> AsyncIterator[LogClient]:
    client = await open_log(as_user(secured, "svc", "svc-pw"), "svc")  # sets up the topology
    yield client
    await client.close()


async def stored_on(service: LogClient, stream: str, subject: str) -> int:
    info = await service.js.stream_info(stream, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def test_a_drone_publishes_its_own_reports_and_images(
    secured: str, service: LogClient
) -> None:
    async with DroneClient("nypd", "d1", as_user(secured, "drone-d1", "d1-pw")) as drone:
        await drone.report_position(40.7, -73.9)
        await drone.report_violation(21, b"jpeg", 40.7, -73.9, image_id="img-d1")
        await drone.request_review(b"jpeg", 40.7, -73.9)
    assert await service.images.get("nypd", "img-d1") == b"jpeg"


@pytest.mark.parametrize(
    "subject",
    [
        subjects.position("nypd", "d2"),  # another drone
        subjects.position("other", "d1"),  # another force
        subjects.alert("nypd", "a1"),  # an officer's decision
        subjects.history("nypd", "d1"),  # the NYPD replay's history
    ],
)
async def test_a_drone_cannot_publish_elsewhere(
    secured: str, service: LogClient, subject: str
) -> None:
    drone = await open_log(
        as_user(secured, "drone-d1", "d1-pw"), "d1", setup=False, ack_timeout=1.0
    )
    try:
        with pytest.raises(AckTimeout):
            await drone.publisher.publish_and_wait(subject, b"{}")
    finally:
        await drone.close()
    stream = (
        subjects.ALERTS
        if ".alert." in subject
        else (subjects.HISTORY if ".history." in subject else subjects.DRONES)
    )
    assert await stored_on(service, stream.name, subject) == 0


async def test_the_replay_writes_history_only(secured: str, service: LogClient) -> None:
    replay = await open_log(
        as_user(secured, "replay", "replay-pw"), "r", setup=False, ack_timeout=1.0
    )
    try:
        ack = await replay.publisher.publish_and_wait(subjects.history("nypd", "pct-1"), b"{}")
        assert ack.stream == subjects.HISTORY.name
        with pytest.raises(PublishError):
            await replay.publisher.publish_and_wait(subjects.position("nypd", "d9"), b"{}")
    finally:
        await replay.close()
    assert await stored_on(service, subjects.DRONES.name, subjects.position("nypd", "d9")) == 0


async def test_an_officer_reads_images_and_decides_only_alerts(
    secured: str, service: LogClient
) -> None:
    await service.images.put("nypd", "img-officer", b"jpeg", "image/jpeg")
    officer = await open_log(
        as_user(secured, "officer", "officer-pw"), "o", setup=False, ack_timeout=1.0
    )
    try:
        assert await officer.images.get("nypd", "img-officer") == b"jpeg"
        ack = await officer.publisher.publish_and_wait(subjects.alert("nypd", "a1"), b"{}")
        assert ack.stream == subjects.ALERTS.name
        with pytest.raises(PublishError):
            await officer.publisher.publish_and_wait(subjects.review("nypd", "d1"), b"{}")
    finally:
        await officer.close()


def test_the_rendered_block_is_what_nats_server_reads(tmp_path: Path) -> None:
    text = permissions.render_authorization(USERS[:2])
    assert text.startswith("authorization {")
    assert '"prestacop.nypd.drone.d1.position"' in text


def test_the_cli_writes_a_config_nats_server_accepts(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from prestacop.cli.main import app

    conf, creds = tmp_path / "auth.conf", tmp_path / "creds.csv"
    result = CliRunner().invoke(
        app,
        [
            "nats-auth",
            "-d",
            "d1",
            "-d",
            "d2",
            "--tenant",
            "nypd",
            "--config",
            str(conf),
            "--credentials",
            str(creds),
        ],
    )
    assert result.exit_code == 0, result.output
    assert oct(conf.stat().st_mode & 0o777) == "0o600"
    assert len(creds.read_text().splitlines()) == 1 + 5
    rt = EmbeddedRuntime(tmp_path / "rt", postgres=False, nats_config=conf.read_text())
    rt.start()  # nats-server refuses a config it cannot read
    rt.stop()
