"""An officer's id is its credentials': a claim or decision in another officer's name is refused.

The server lets an officer's user publish on ``prestacop.<force>.alert.<alert>.<own id>``
only; every reader (console, gate, projections) refuses an alert event whose
``officer_id`` differs from the subject's, so an officer cannot write as another one,
neither on the other's subject (the server) nor on its own (the readers).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prestacop import bootstrap
from prestacop.adapters.publisher import PublishError
from prestacop.alerts.ports import AlertLogUnavailable, Unreadable
from prestacop.bootstrap import LogClient, open_log
from prestacop.domain import codec, subjects
from prestacop.domain.alerts import AlertRefused
from prestacop.domain.events import AlertClaimed, OperatorDecisionRecorded
from tests.conftest import wait_until
from tests.integration.test_alert_feed import Following, raise_alert
from tests.security.conftest import Secured
from tests.security.test_isolation import count
from tests.security.test_roles import cli


def _claim(alert_id: str, drone_id: str, officer: str) -> AlertClaimed:
    return AlertClaimed(
        message_id=uuid.uuid4().hex,
        alert_id=alert_id,
        drone_id=drone_id,
        officer_id=officer,
        time=datetime.now(UTC),
    )


async def test_no_officer_claims_or_decides_in_another_officers_name(
    secured: Secured,
    services: dict[str, LogClient],
    as_role: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NATS_CREDS", str(as_role("nypd", "officer", "jane")))
    jane_log = await bootstrap.alert_log(secured.url, "nypd", setup=False, ack_timeout=1.0)
    jane = await Following(jane_log, "jane").start()
    # a console with jane's credentials, pretending to be the chief
    chief_log = await bootstrap.alert_log(secured.url, "nypd", setup=False, ack_timeout=1.0)
    chief = await Following(chief_log, "chief").start()
    raw = await open_log(secured.url, "raw", setup=False, ack_timeout=1.0)
    try:
        alert_id = await raise_alert(services["nypd"], "nypd", "d-id")
        await wait_until(lambda: chief.desk.board.get(alert_id) is not None, what="alert")

        # 1. on the chief's subject: the server refuses jane's user
        with pytest.raises(AlertLogUnavailable):
            await chief.desk.claim(alert_id)
        with pytest.raises(AlertLogUnavailable):
            await chief.desk.log.append(
                OperatorDecisionRecorded(
                    message_id=uuid.uuid4().hex,
                    alert_id=alert_id,
                    drone_id="d-id",
                    officer_id="chief",
                    time=datetime.now(UTC),
                    corrected_code=21,
                ),
                expected_last_seq=0,
            )
        # 2. on her own subject, in the chief's name: stored, but refused by every reader
        forged = codec.encode(_claim(alert_id, "d-id", "chief"))
        await raw.publisher.publish_and_wait(subjects.alert("nypd", alert_id, "jane"), forged)
        await wait_until(
            lambda: any(isinstance(i, Unreadable) for i in jane.items), what="forgery read"
        )
        bad = [i for i in jane.items if isinstance(i, Unreadable)]
        assert "officer_id 'chief' differs from the officer who wrote it ('jane')" in bad[0].reason
        alert = jane.desk.board.get(alert_id)
        assert alert is not None and alert.status == "open" and alert.holder is None

        # 3. in her own name: claimed and resolved as jane
        await jane.desk.claim(alert_id)
        await wait_until(  # on both consoles: each judges from what it has read
            lambda: all(
                (a := f.desk.board.get(alert_id)) is not None and a.holder == "jane"
                for f in (jane, chief)
            ),
            what="jane's claim, seen by both consoles",
        )
        with pytest.raises(AlertRefused, match="held by jane"):
            await chief.desk.resolve(alert_id, 21)
        await jane.desk.resolve(alert_id, 21)

        async def decided() -> bool:  # a direct get: on three nodes a replica may lag a moment
            last = await jane_log.last_on_alert(alert_id)
            return last is not None and isinstance(last.event, OperatorDecisionRecorded)

        await wait_until(decided, what="jane's decision, read back")
        last = await jane_log.last_on_alert(alert_id)
        assert last is not None and isinstance(last.event, OperatorDecisionRecorded)
        assert last.event.officer_id == "jane"
        assert last.subject == subjects.alert("nypd", alert_id, "jane")
        # a raw publish on the chief's subject is refused too; nothing was ever stored there
        chiefs = subjects.alert("nypd", alert_id, "chief")
        with pytest.raises(PublishError):
            await raw.publisher.publish_and_wait(chiefs, codec.encode(_claim(alert_id, "d", "x")))
        assert await count(services["nypd"], subjects.ALERTS.name, chiefs) == 0
    finally:
        await raw.close()
        await jane_log.close()
        await chief_log.close()


def test_the_console_takes_its_officer_id_from_the_credentials(
    secured: Secured, as_role: Callable[..., Path]
) -> None:
    creds = str(as_role("nypd", "officer", "jane"))
    code, output = cli(secured, "--creds", creds, "console", "-t", "nypd", "--officer", "chief")
    assert code == 2
    assert "these credentials were issued to officer 'jane', not 'chief'" in output
