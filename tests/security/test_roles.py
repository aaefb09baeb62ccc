"""Officers and operators: what their credentials let them do, through the real programs."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prestacop import bootstrap
from prestacop.adapters.publisher import PublishError
from prestacop.bootstrap import LogClient, open_log
from prestacop.cli.main import app
from prestacop.domain import subjects
from prestacop.domain.events import AlertClaimed
from prestacop.drone import DroneClient
from tests.conftest import wait_until
from tests.integration.test_alert_feed import Following, raise_alert
from tests.security.conftest import Secured, refused, settled


async def test_an_officer_follows_claims_reads_images_and_decides_only_alerts(
    secured: Secured,
    services: dict[str, LogClient],
    as_role: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NATS_CREDS", str(as_role("nypd", "officer", "jane")))
    officer_log = await bootstrap.alert_log(secured.url, "nypd", setup=False)
    console = await Following(officer_log, "jane").start()
    officer = await open_log(secured.url, "o", setup=False, ack_timeout=1.0)
    try:
        drone_id = "d-" + uuid.uuid4().hex[:8]
        alert_id = await raise_alert(services["nypd"], "nypd", drone_id)
        await wait_until(lambda: console.desk.board.get(alert_id) is not None, what="alert")
        await console.desk.claim(alert_id)

        async def claimed() -> bool:  # a direct get: on three nodes a replica may lag a moment
            last = await officer_log.last_on_alert(alert_id)
            return last is not None and isinstance(last.event, AlertClaimed)

        await wait_until(claimed, what="the claim, read back")
        violation = console.desk.board.get(alert_id).violation  # type: ignore[union-attr]
        assert violation.image_id is not None
        assert await officer_log.image(violation.image_id) == b"img"
        assert await officer_log.last_position(drone_id) is None  # none sent: read, not denied
        drone = await DroneClient("nypd", drone_id, log=services["nypd"]).connect()
        await drone.report_position(40.7, -73.9)

        async def positioned() -> bool:
            return await officer_log.last_position(drone_id) is not None

        await wait_until(positioned, what="the drone's position, read back")
        with pytest.raises(PublishError):
            await officer.publisher.publish_and_wait(subjects.review("nypd", "d1"), b"{}")
    finally:
        await officer.close()
        await officer_log.close()


async def test_the_console_pointed_at_another_force_sees_nothing_of_it(
    secured: Secured,
    services: dict[str, LogClient],
    as_role: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lapd_alert = await raise_alert(services["lapd"], "lapd")
    monkeypatch.setenv("NATS_CREDS", str(as_role("nypd", "officer", "jane")))
    officer_log = await bootstrap.alert_log(secured.url, "lapd", setup=False)
    console = await Following(officer_log, "jane").start()
    try:
        await wait_until(lambda: "live" in console.states, what="feed live")
        assert console.desk.board.get(lapd_alert) is None
        assert console.items == []
    finally:
        await officer_log.close()


def cli(secured: Secured, *args: str) -> tuple[int, str]:
    env = {
        "PRESTACOP_HOME": str(secured.home),
        "NATS_URL": secured.url,
        "NATS_CREDS": "",
        "NATS_CA": secured.ca,
    }
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_onboarding_issuing_and_revoking_from_the_command_line(
    secured: Secured, tmp_path: Path
) -> None:
    code, output = cli(secured, "tenant", "add", "sfpd")
    assert code == 0, output
    assert "PRESTACOP_DRONES" in output
    code, output = cli(secured, "tenant", "list")
    assert {"nypd", "lapd", "sfpd"} <= {line.split()[0] for line in output.splitlines()}
    for role, extra in [
        ("drone", ["--drone", "d1"]),
        ("officer", ["--officer", "o1"]),
        ("replay", []),
        ("service", []),
    ]:
        path = tmp_path / f"{role}.creds"
        code, output = cli(secured, "creds", role, "--tenant", "sfpd", *extra, "-o", str(path))
        assert code == 0, output
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        seed = next(ln for ln in path.read_text().splitlines() if ln.startswith("SU"))
        assert seed not in output  # the secret goes to the file only
    code, output = cli(secured, "revoke", "drone", "--tenant", "sfpd", "--drone", "d1")
    assert code == 0, output
    code, output = cli(secured, "revoke", "drone", "--tenant", "sfpd", "--drone", "never")
    assert code == 2 and "never" in output


def test_secrets_stay_in_owner_only_files(secured: Secured) -> None:
    root = secured.home / "secrets"
    assert oct(root.stat().st_mode & 0o777) == "0o700"
    for path in root.rglob("*"):
        if path.is_file():
            assert oct(path.stat().st_mode & 0o777) == "0o600", path


def test_no_secret_in_a_command_line_or_its_output(secured: Secured, tmp_path: Path) -> None:
    """A command run with credentials shows no seed in `ps` nor in its output, even failing."""
    creds = secured.authority.service_creds("nypd")
    seed = next(ln for ln in creds.read_text().splitlines() if ln.startswith("SU"))
    env = {
        **os.environ,
        "PRESTACOP_HOME": str(tmp_path),
        "NATS_URL": secured.url,
        "NATS_CA": secured.ca,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "prestacop.cli", "--creds", str(creds), "setup"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, output
    assert seed.encode() not in cmdline and seed not in output
    bad = subprocess.run(
        [sys.executable, "-m", "prestacop.cli", "setup"],
        env={**env, "NATS_URL": secured.url.replace("nats://", "nats://u:pw-123@")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "pw-123" not in bad.stdout + bad.stderr


async def test_the_replay_resumes_with_its_own_rights(
    secured: Secured, services: dict[str, LogClient], as_role: Callable[..., Path]
) -> None:
    """What a replay run does on start (topology check, ids already stored) with replay creds."""
    from prestacop.nypd_replay.stored import last_sequence, stored_ids

    replay = await open_log(secured.url, "r", creds=as_role("nypd", "replay"))  # setup checks
    try:
        ack = await replay.publisher.publish_and_wait(
            subjects.history("nypd", "pct-7"), b"{}", msg_id="h-" + uuid.uuid4().hex
        )
        assert await last_sequence(replay.source) >= ack.seq
        assert len(await stored_ids(replay.source, "nypd", ack.seq - 1)) == 1
    finally:
        await replay.close()


async def test_no_officer_can_redefine_the_gate_consumer(
    secured: Secured,
    services: dict[str, LogClient],
    as_role: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import json

    from nats.js.api import ConsumerConfig

    nypd = services["nypd"]
    await settled(
        lambda: nypd.js.add_consumer(
            subjects.ALERTS.name, ConsumerConfig(durable_name="gate", description="the gate's")
        )
    )
    officer = await open_log(secured.url, "o", setup=False, creds=as_role("nypd", "officer", "o1"))
    request = {
        "stream_name": subjects.ALERTS.name,
        "config": {"durable_name": "gate", "description": "mine", "ack_policy": "explicit"},
    }
    try:
        for subject in (
            f"$JS.API.CONSUMER.CREATE.{subjects.ALERTS.name}.gate",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{subjects.ALERTS.name}.gate",
        ):
            request_it = officer.nc.request(subject, json.dumps(request).encode(), timeout=5)
            await refused(caplog, subject, request_it)
    finally:
        await officer.close()
    info = await settled(lambda: nypd.js.consumer_info(subjects.ALERTS.name, "gate"))
    assert info.config.description == "the gate's"
