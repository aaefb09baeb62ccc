"""One contract per port, run against the in-memory fake and the real adapter alike.

A unit test on a fake proves something about the real system only if the fake
keeps the adapter's rules: each class below states those rules once, and its two
subclasses bind them to ``tests/unit/fakes.py`` and to JetStream or PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from prestacop import bootstrap
from prestacop.adapters.alert_feed import JetStreamAlertLog
from prestacop.adapters.images import ImageStore
from prestacop.adapters.log_reader import LogReader as JetStreamReader
from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.adapters.publisher import NoStreamError, Publisher, PublishRejected
from prestacop.alerts.ports import FeedItem, LogEntry, StaleAlert
from prestacop.bootstrap import LogClient
from prestacop.domain import codec, subjects
from prestacop.domain.events import AlertClaimed
from prestacop.ports.log import AckedReader, Delivered, EventPublisher, LogReader, RawMessage
from prestacop.ports.log import ImageStore as ImageStorePort
from prestacop.ports.projection import (
    Advance,
    Batch,
    Envelope,
    PositionMoved,
    Projection,
    ViewStore,
    WriteResult,
)
from tests.conftest import wait_until
from tests.factories import claimed, position, violation
from tests.unit.fakes import (
    FakeAckedReader,
    FakeAlertLog,
    FakeConsumer,
    FakeImageStore,
    FakeLog,
    FakeLogReader,
    FakePublisher,
    FakeViewStore,
)

EXPECTED = "Nats-Expected-Last-Subject-Sequence"


def payload(tenant: str, mid: str) -> tuple[str, bytes]:
    return codec.subject_for(tenant, position(mid)), msgspec.json.encode(position(mid))


class PublisherContract:
    """Appends get increasing sequences; a repeated id is a duplicate; conditions hold."""

    @pytest.fixture
    def publisher(self, *args: Any) -> EventPublisher:
        raise NotImplementedError

    async def test_it_is_an_event_publisher(self, publisher: EventPublisher) -> None:
        assert isinstance(publisher, EventPublisher)

    async def test_each_message_gets_the_next_sequence_of_its_stream(
        self, publisher: EventPublisher, tenant: str
    ) -> None:
        first = await publisher.publish_and_wait(*payload(tenant, f"{tenant}-1"), f"{tenant}-1")
        second = await publisher.publish_and_wait(*payload(tenant, f"{tenant}-2"), f"{tenant}-2")
        assert (first.stream, second.stream) == (subjects.DRONES.name,) * 2
        assert second.seq > first.seq and not first.duplicate and not second.duplicate

    async def test_the_same_message_id_is_stored_once(
        self, publisher: EventPublisher, tenant: str
    ) -> None:
        mid = f"{tenant}-once"
        first = await publisher.publish_and_wait(*payload(tenant, mid), mid)
        again = await publisher.publish_and_wait(*payload(tenant, mid), mid)
        assert again.duplicate and again.seq == first.seq

    async def test_a_stale_expected_subject_sequence_is_refused(
        self, publisher: EventPublisher, tenant: str
    ) -> None:
        subject, data = payload(tenant, f"{tenant}-a")
        first = await publisher.publish_and_wait(subject, data, f"{tenant}-a", {EXPECTED: "0"})
        with pytest.raises(PublishRejected) as refused:
            await publisher.publish_and_wait(subject, data, f"{tenant}-b", {EXPECTED: "0"})
        assert refused.value.err_code == 10071
        ok = await publisher.publish_and_wait(
            subject, data, f"{tenant}-c", {EXPECTED: str(first.seq)}
        )
        assert ok.seq > first.seq

    async def test_a_subject_of_no_stream_is_refused(
        self, publisher: EventPublisher, tenant: str
    ) -> None:
        with pytest.raises(NoStreamError):
            await publisher.publish_and_wait(f"nowhere.{tenant}", b"{}", None)


class TestFakePublisher(PublisherContract):
    @pytest.fixture
    def publisher(self) -> EventPublisher:
        return FakePublisher()


class TestJetStreamPublisher(PublisherContract):
    @pytest.fixture
    async def publisher(self, log: LogClient) -> AsyncIterator[EventPublisher]:
        pub = await Publisher(log.nc, window=16, ack_timeout=5.0).start()
        yield pub
        await pub.close()


class ImageStoreContract:
    """Images by tenant and id: what was put is read back; nothing else exists."""

    @pytest.fixture
    def images(self, *args: Any) -> ImageStorePort:
        raise NotImplementedError

    async def test_it_is_an_image_store(self, images: ImageStorePort) -> None:
        assert isinstance(images, ImageStorePort)

    async def test_an_image_put_is_read_back_under_its_tenant_only(
        self, images: ImageStorePort, tenant: str
    ) -> None:
        await images.put(tenant, "img-1", b"\x89PNG-bytes", "image/png")
        assert await images.get(tenant, "img-1") == b"\x89PNG-bytes"
        assert await images.exists(tenant, "img-1")
        assert not await images.exists(tenant + "x", "img-1")

    async def test_a_missing_image_is_none_not_an_error(
        self, images: ImageStorePort, tenant: str
    ) -> None:
        assert await images.get(tenant, "never-put") is None
        assert not await images.exists(tenant, "never-put")


class TestFakeImageStore(ImageStoreContract):
    @pytest.fixture
    def images(self) -> ImageStorePort:
        return FakeImageStore()


class TestJetStreamImageStore(ImageStoreContract):
    @pytest.fixture
    async def images(self, log: LogClient) -> ImageStorePort:
        return await ImageStore.open(log.js)


class AlertLogContract:
    """The alert stream: replayed then live, appended to under optimistic concurrency."""

    async def raise_alert(self, tenant: str, alert_id: str) -> None:
        raise NotImplementedError

    @pytest.fixture
    async def alert_log(self, *args: Any) -> Any:
        raise NotImplementedError

    async def test_an_alert_raised_is_followed_then_claimed_once(
        self, alert_log: Any, tenant: str
    ) -> None:
        items: list[FeedItem] = []
        alert = f"a-{tenant}"  # message ids are de-duplicated per stream, not per tenant
        await self.raise_alert(tenant, alert)
        await alert_log.follow(items.append, lambda state: None)
        await wait_until(lambda: len(items) == 1, what="the alert replayed")
        first = items[0]
        assert isinstance(first, LogEntry) and first.event.message_id == alert
        claim = claimed("alice", alert, message_id=f"c1-{tenant}")
        seq = await alert_log.append(claim, expected_last_seq=0)
        await wait_until(lambda: len(items) == 2, what="the claim live")
        assert items[1].seq == seq and isinstance(items[1].event, AlertClaimed)  # type: ignore[union-attr]
        with pytest.raises(StaleAlert):
            late = claimed("bob", alert, message_id=f"c2-{tenant}")
            await alert_log.append(late, expected_last_seq=0)
        last = await alert_log.last_on_alert(alert)
        assert last is not None and last.seq == seq and last.event.officer_id == "alice"

    async def test_what_was_never_written_reads_as_none(self, alert_log: Any) -> None:
        assert await alert_log.last_on_alert("no-such-alert") is None
        assert await alert_log.last_position("no-such-drone") is None
        assert await alert_log.image("no-such-image") is None


class TestFakeAlertLog(AlertLogContract):
    @pytest.fixture
    async def alert_log(self, tenant: str) -> FakeAlertLog:
        self.fake = FakeAlertLog(tenant, FakeLog())
        return self.fake

    async def raise_alert(self, tenant: str, alert_id: str) -> None:
        self.fake.raise_alert(violation(alert_id))


class TestJetStreamAlertLog(AlertLogContract):
    @pytest.fixture
    async def alert_log(
        self, nats_url: str, tenant: str, log: LogClient
    ) -> AsyncIterator[JetStreamAlertLog]:
        self.log = log
        real = await bootstrap.alert_log(nats_url, tenant, name=f"contract-{uuid.uuid4().hex}")
        yield real
        await real.close()

    async def raise_alert(self, tenant: str, alert_id: str) -> None:
        event = violation(alert_id)
        await self.log.images.put(tenant, f"img-{alert_id}", b"img", "image/png")
        subject = codec.subject_for(tenant, event)
        await self.log.publisher.publish_and_wait(subject, msgspec.json.encode(event), alert_id)


class Seen(Projection):
    """Writes one row per event; the event ``"poison"`` fails, as a bad event would."""

    name = "contract_seen"
    tables = {"seen": "stream text NOT NULL, seq bigint NOT NULL"}

    def apply(self, batch: Batch, cur: Any) -> None:
        for env in batch:
            if env.event == "poison":
                raise ValueError(f"cannot apply {env.seq}")
            cur.execute("INSERT INTO seen VALUES (%s, %s)", (env.stream, env.seq))


def envelopes(*events: str, start: int = 1) -> list[Envelope]:
    now = datetime.now(UTC)
    return [
        Envelope("S", start + i, "prestacop.t.drone.d1.position", "t", now, e)
        for i, e in enumerate(events)
    ]


class ViewStoreContract:
    """Rows and positions move together, from where the batch expects; poison set aside."""

    @pytest.fixture
    def store(self, *args: Any) -> ViewStore:
        raise NotImplementedError

    def rows(self) -> int:
        raise NotImplementedError

    def write(self, store: ViewStore, envs: list[Envelope], expected: int) -> WriteResult:
        advance = {"S": Advance(expected, envs[-1].seq, None)}
        return store.write(Seen(), envs, advance, live_name=None, counts={}, rate=0.0)

    def test_a_batch_moves_its_rows_and_its_position_together(self, store: ViewStore) -> None:
        assert store.positions(("S",)) == {"S": 0}
        result = self.write(store, envelopes("a", "b", "c"), expected=0)
        assert result.applied == 3 and result.dead == []
        assert store.positions(("S",)) == {"S": 3} and self.rows() == 3

    def test_a_batch_from_a_position_already_passed_is_refused_whole(
        self, store: ViewStore
    ) -> None:
        self.write(store, envelopes("a", "b"), expected=0)
        with pytest.raises(PositionMoved):
            self.write(store, envelopes("a", "b"), expected=0)
        assert store.positions(("S",)) == {"S": 2} and self.rows() == 2

    def test_a_poison_event_is_set_aside_and_the_rest_applies(self, store: ViewStore) -> None:
        result = self.write(store, envelopes("a", "poison", "c"), expected=0)
        assert result.applied == 2 and [env.seq for env, _ in result.dead] == [2]
        assert store.positions(("S",)) == {"S": 3} and self.rows() == 2


class TestFakeViewStore(ViewStoreContract):
    @pytest.fixture
    def store(self) -> FakeViewStore:
        self.fake = FakeViewStore()
        return self.fake

    def rows(self) -> int:
        return len(self.fake.rows)


class TestPostgresViewStore(ViewStoreContract):
    @pytest.fixture
    def store(self, database_url: str) -> Iterator[ViewStore]:
        registry = ProjectionStore(database_url, "c" + uuid.uuid4().hex[:10])
        registry.setup()
        build = registry.create_build(Seen, "contract test")
        self.recorder = registry.recorder(build)
        yield self.recorder
        self.recorder.datastore.close()
        registry.drop(build)
        registry.close()

    def rows(self) -> int:
        with self.recorder.datastore.transaction(commit=False) as cur:
            row = cur.execute(f'SELECT count(*) AS n FROM "{self.recorder.schema}".seen').fetchone()
        assert row is not None
        return int(row["n"])


class LogReaderContract:
    """Every message from the start position on, in order, in chunks of at most ``max_n``."""

    async def append(self, subject: str, data: bytes, mid: str) -> int:
        raise NotImplementedError

    async def reader(self, start_seq: int) -> LogReader:
        raise NotImplementedError

    async def take_until(self, reader: LogReader, last: int) -> list[RawMessage]:
        got: list[RawMessage] = []
        while not got or got[-1][0] < last:
            chunk = await reader.take(2, timeout=5.0)
            assert chunk, f"nothing read after {got[-1][0] if got else None}, expected {last}"
            assert len(chunk) <= 2
            got += chunk
        return got

    async def test_it_reads_in_order_from_the_position_given_then_what_comes_live(
        self, tenant: str
    ) -> None:
        seqs = [
            await self.append(*payload(tenant, f"{tenant}-r{i}"), f"{tenant}-r{i}")
            for i in range(5)
        ]
        reader = await self.reader(seqs[1])
        try:
            assert isinstance(reader, LogReader)
            got = await self.take_until(reader, seqs[-1])
            read = [seq for seq, *_ in got]
            assert read[0] == seqs[1] and read == sorted(set(read)) and set(seqs[1:]) <= set(read)
            assert await reader.take(10, timeout=0.2) == []  # at the head: nothing, no error
            later = await self.append(*payload(tenant, f"{tenant}-late"), f"{tenant}-late")
            assert [seq for seq, *_ in await self.take_until(reader, later)][-1] == later
        finally:
            await reader.stop()


class TestFakeLogReader(LogReaderContract):
    @pytest.fixture(autouse=True)
    def fake_log(self) -> None:
        self.log = FakeLog()

    async def append(self, subject: str, data: bytes, mid: str) -> int:
        return self.log.append(subject, data, mid, {}).seq

    async def reader(self, start_seq: int) -> LogReader:
        return FakeLogReader(self.log, subjects.DRONES.name, start_seq)


class TestJetStreamLogReader(LogReaderContract):
    @pytest.fixture(autouse=True)
    def real_log(self, log: LogClient) -> None:
        self.log = log

    async def append(self, subject: str, data: bytes, mid: str) -> int:
        return (await self.log.publisher.publish_and_wait(subject, data, mid)).seq

    async def reader(self, start_seq: int) -> LogReader:
        return await JetStreamReader(self.log.nc, subjects.DRONES.name, start_seq).start()


class AckedReaderContract:
    """What is acknowledged never comes again; what a stopped reader held and did not
    acknowledge comes again, to the next reader of the same consumer (the gate's kills)."""

    async def append(self, subject: str, data: bytes, mid: str) -> int:
        raise NotImplementedError

    async def reader(self, tenant: str) -> AckedReader:
        raise NotImplementedError

    async def take(self, reader: AckedReader, n: int) -> list[Delivered]:
        got: list[Delivered] = []
        while len(got) < n:
            chunk = await reader.take(n - len(got), timeout=5.0)
            assert chunk, f"{len(got)} of {n} handed over"
            got += chunk
        return got

    async def test_what_is_not_acknowledged_comes_again_and_what_is_never_does(
        self, tenant: str
    ) -> None:
        sent = [payload(tenant, f"{tenant}-a{i}") for i in range(4)]
        seqs = [await self.append(*p, f"{tenant}-a{i}") for i, p in enumerate(sent)]
        first = await self.reader(tenant)
        got = await self.take(first, 4)
        assert [m.seq for m in got] == seqs
        assert (got[0].subject, got[0].data) == sent[0]
        assert got[0].metadata.sequence.stream == seqs[0]
        assert got[0].metadata.stream == subjects.DRONES.name
        for m in got[:2]:
            await first.ack(m)
        await first.stop()  # a gate dying with two messages judged, two not
        second = await self.reader(tenant)
        try:
            again = await self.take(second, 2)
            assert [m.seq for m in again] == seqs[2:]
            for m in again:
                await second.ack(m)
            assert await second.take(10, timeout=2.0) == []  # past ack_wait: nothing again
        finally:
            await second.stop()


class TestFakeAckedReader(AckedReaderContract):
    @pytest.fixture(autouse=True)
    def fake_log(self) -> None:
        self.log, self.consumer = FakeLog(), FakeConsumer()

    async def append(self, subject: str, data: bytes, mid: str) -> int:
        return self.log.append(subject, data, mid, {}).seq

    async def reader(self, tenant: str) -> AckedReader:
        return FakeAckedReader(self.log, subjects.DRONES.name, self.consumer)


class TestJetStreamAckedReader(AckedReaderContract):
    @pytest.fixture(autouse=True)
    def real_log(self, log: LogClient) -> None:
        self.log = log
        self.durable = f"contract_{uuid.uuid4().hex[:12]}"

    async def append(self, subject: str, data: bytes, mid: str) -> int:
        return (await self.log.publisher.publish_and_wait(subject, data, mid)).seq

    async def reader(self, tenant: str) -> AckedReader:
        return await self.log.source.acked_reader(
            subjects.DRONES.name,
            self.durable,
            filter_subjects=[subjects.position(tenant, "*")],
            ack_wait=1.0,
        )
