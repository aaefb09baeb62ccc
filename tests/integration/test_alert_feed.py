"""The alert feed and the desk against a real nats-server: push, claims under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prestacop import bootstrap
from prestacop.adapters.alert_feed import JetStreamAlertLog
from prestacop.alerts.desk import AlertDesk
from prestacop.alerts.ports import ControlResult, FeedItem, FeedState, LogEntry, StartingBoard
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
    a = await Following(await bootstrap.alert_log(nats_url, tenant), "officer-a").start()
    b = await Following(await bootstrap.alert_log(nats_url, tenant), "officer-b").start()
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
    console = await Following(await bootstrap.alert_log(nats_url, tenant), "o1").start()
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
    # open (explicitly): a server of its own to stop and restart under the feed
    runtime = EmbeddedRuntime(tmp_path, postgres=False, secure=False)
    with runtime as urls:
        rt_log = await open_log(urls.nats_url, "drones")
        console = await Following(
            await bootstrap.alert_log(urls.nats_url, tenant, heartbeat_s=0.5), "o1"
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


async def _reviews(log: LogClient, tenant: str, n: int) -> list[str]:
    """``n`` alerts raised at once (their images are never fetched: none is stored)."""
    from prestacop.domain.codec import encode_checked
    from prestacop.domain.events import HUMAN_REVIEW_CODE, ViolationReported

    ids, acks = [], []
    for i in range(n):
        event = ViolationReported(
            message_id=uuid.uuid4().hex,
            drone_id=f"d{i % 7}",
            time=datetime.now(UTC),
            latitude=40.75,
            longitude=-73.98,
            violation_code=HUMAN_REVIEW_CODE,
            image_id="never-fetched",
            confidence=0.3,
        )
        subject, data = encode_checked(tenant, event, datetime.now(UTC))
        acks.append(await log.publisher.publish(subject, data, msg_id=event.message_id))
        ids.append(event.message_id)
    await asyncio.gather(*acks)
    return ids


async def test_the_feed_says_live_only_once_the_whole_history_is_handed_over(
    log: LogClient, nats_url: str, tenant: str
) -> None:
    ids = await _reviews(log, tenant, 3000)
    alert_log = await bootstrap.alert_log(nats_url, tenant, heartbeat_s=0.2)
    handed_when_live: list[int] = []
    items: list[FeedItem] = []

    def on_state(state: FeedState) -> None:
        if state == "live":
            handed_when_live.append(len(items))

    try:
        await alert_log.follow(items.append, on_state)
        await wait_until(lambda: handed_when_live, timeout=30, what="live")
        assert handed_when_live[0] == len(ids)
    finally:
        await alert_log.close()


async def test_a_console_starts_from_the_last_board_snapshot_and_follows_from_there(
    log: LogClient, nats_url: str, tenant: str
) -> None:
    first = await Following(await bootstrap.alert_log(nats_url, tenant), "o1").start()
    ids = await _reviews(log, tenant, 30)
    try:
        await wait_until(lambda: len(first.desk.board.active()) == 30, what="30 alerts")
        await first.desk.claim(ids[0])
        await first.desk.claim(ids[1])
        await wait_until(lambda: first.desk.board.get(ids[1]).holder == "o1", what="claimed")
        await first.desk.resolve(ids[1], 21)
        await wait_until(lambda: first.log.state == "live" and len(first.items) == 33, what="33")
    finally:
        await first.log.close()  # writes the board snapshot
    later = await _reviews(log, tenant, 2)
    second = await Following(await bootstrap.alert_log(nats_url, tenant), "o2").start()
    try:
        await wait_until(lambda: second.log.state == "live", what="live")
        await wait_until(lambda: len(second.items) >= 3, what="snapshot + 2 new")
        assert isinstance(second.items[0], StartingBoard)
        board = second.desk.board
        assert board.get(ids[0]).holder == "o1"  # type: ignore[union-attr]
        assert board.get(ids[1]).status == "resolved"  # type: ignore[union-attr]
        assert {a.alert_id for a in board.active()} == set(ids[2:]) | set(later) | {ids[0]}
        with pytest.raises(AlertRefused, match="held by o1"):
            await second.desk.claim(ids[0])
    finally:
        await second.log.close()


def test_an_unreadable_snapshot_is_no_start() -> None:
    from prestacop.alerts import snapshot

    assert snapshot.decode(b"{not json") is None
    assert snapshot.decode(b'{"version": 99, "seq": 5, "alerts": []}') is None


async def test_a_drone_whose_last_message_is_garbage_has_no_position_and_crashes_nothing(
    log: LogClient, nats_url: str, tenant: str
) -> None:
    """The console reads a drone's last position and an alert's last step by direct get:
    a drone may publish anything there (InvalidMessage crashed the console's worker)."""
    from prestacop.domain import subjects

    client = await DroneClient(tenant, "d1", log=log).connect()
    await client.report_position(40.75, -73.98)
    alert_log = await bootstrap.alert_log(nats_url, tenant)
    try:
        good = await alert_log.last_position("d1")
        assert good is not None
        for garbage in (b"\xff not json", b'{"type": "position"}', b"\x00" * 10):
            await log.publisher.publish_and_wait(subjects.position(tenant, "d1"), garbage)
            await log.publisher.publish_and_wait(subjects.alert(tenant, "a1", "o1"), garbage)
            assert await alert_log.last_position("d1") is None
            assert await alert_log.last_on_alert("a1") is None
    finally:
        await alert_log.close()
