"""The alert feed and the desk against a real nats-server: push, claims under concurrency."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from prestacop.adapters.alert_feed import JetStreamAlertLog
from prestacop.alerts.desk import AlertDesk
from prestacop.alerts.ports import ControlResult, FeedItem, FeedState, LogEntry
from prestacop.bootstrap import LogClient, open_log
from prestacop.domain.alerts import AlertRefused
from prestacop.domain.events import AlertClaimed, OperatorDecisionRecorded
from prestacop.drone import DroneClient
from prestacop.runtime.embedded import EmbeddedRuntime
from tests.conftest import wait_until


class NoControl:
    async def take_over(self, drone_id: str) -> ControlResult:
        return ControlResult(("true",), 0, "", "")


class Following:
    """A desk following the feed, as the console does."""

    def __init__(self, alert_log: JetStreamAlertLog, officer: str) -> None:
        self.log = alert_log
        self.desk = AlertDesk(alert_log, officer, NoControl())
        self.items: list[FeedItem] = []
        self.states: list[FeedState] = []

    def on_item(self, item: FeedItem) -> None:
        self.items.append(item)
        self.desk.apply(item)

    async def start(self) -> Following:
        await self.log.follow(self.on_item, self.states.append)
        return self


@pytest.fixture
async def consoles(nats_url: str, tenant: str) -> AsyncIterator[tuple[Following, Following]]:
    a = await Following(await JetStreamAlertLog.open(nats_url, tenant), "officer-a").start()
    b = await Following(await JetStreamAlertLog.open(nats_url, tenant), "officer-b").start()
    yield a, b
    await a.log.close()
    await b.log.close()


async def raise_alert(log: LogClient, tenant: str, drone: str = "d1") -> str:
    alert_id = uuid.uuid4().hex
    client = await DroneClient(tenant, drone, log=log).connect()
    await client.request_review(
        b"img", 40.75, -73.98, plate="ABC1234", confidence=0.4, message_id=alert_id
    )
    return alert_id


async def test_an_alert_raised_before_the_console_opened_is_there(
    log: LogClient, nats_url: str, tenant: str
) -> None:
    alert_id = await raise_alert(log, tenant)
    console = await Following(await JetStreamAlertLog.open(nats_url, tenant), "o1").start()
    try:
        await wait_until(lambda: console.desk.board.get(alert_id) is not None, what="old alert")
        assert "live" in console.states
    finally:
        await console.log.close()


async def test_only_one_of_two_officers_racing_for_an_alert_gets_it(
    log: LogClient, consoles: tuple[Following, Following], tenant: str
) -> None:
    a, b = consoles
    alert_id = await raise_alert(log, tenant)
    await wait_until(lambda: a.desk.board.get(alert_id) and b.desk.board.get(alert_id), what="seen")
    # A desk that saw the alert but not yet the claim: only the log can refuse it.
    late = AlertDesk(b.log, "officer-b", NoControl())
    for item in b.items:
        late.apply(item)
    claimed = await a.desk.claim(alert_id)
    assert isinstance(claimed, AlertClaimed)
    with pytest.raises(AlertRefused, match="refused: held by officer-a"):
        await late.claim(alert_id)
    await wait_until(lambda: b.desk.board.get(alert_id).holder == "officer-a", what="b sees a")
    with pytest.raises(AlertRefused, match="held by officer-a"):
        await b.desk.claim(alert_id)


async def test_the_holder_resolves_and_everyone_sees_it_resolved(
    log: LogClient, consoles: tuple[Following, Following], tenant: str
) -> None:
    a, b = consoles
    alert_id = await raise_alert(log, tenant)
    await wait_until(lambda: a.desk.board.get(alert_id) is not None, what="seen")
    await a.desk.claim(alert_id)
    await wait_until(lambda: a.desk.board.get(alert_id).status == "claimed", what="claimed")
    with pytest.raises(AlertRefused, match="claim it first"):
        await b.desk.resolve(alert_id, 21)
    decision = await a.desk.resolve(alert_id, 21, "blocking hydrant")
    assert isinstance(decision, OperatorDecisionRecorded)
    await wait_until(lambda: b.desk.board.get(alert_id).status == "resolved", what="resolved")
    entry = await b.log.last_on_alert(alert_id)
    assert isinstance(entry, LogEntry) and entry.event == decision


async def test_the_feed_survives_the_server_going_away_and_loses_nothing(
    tmp_path: Path, tenant: str
) -> None:
    runtime = EmbeddedRuntime(tmp_path, postgres=False)
    with runtime as urls:
        rt_log = await open_log(urls.nats_url, "drones")
        console = await Following(
            await JetStreamAlertLog.open(urls.nats_url, tenant, heartbeat_s=0.5), "o1"
        ).start()
        try:
            first = await raise_alert(rt_log, tenant)
            await wait_until(lambda: console.desk.board.get(first) is not None, what="first")
            runtime.kill_nats()
            await wait_until(lambda: console.log.state == "reconnecting", what="reconnecting")
            runtime.restart_nats()
            second = await raise_alert(rt_log, tenant, "d2")
            await wait_until(
                lambda: console.desk.board.get(second) is not None, timeout=20, what="second"
            )
            await wait_until(lambda: console.log.state == "live", what="live again")
            seqs = [i.seq for i in console.items]
            assert seqs == sorted(set(seqs)) and len(seqs) == 2
        finally:
            await console.log.close()
            await rt_log.close()
