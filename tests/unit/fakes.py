"""In-memory fakes of the ports, for fast unit tests of the services.

Each fake keeps the rules its real adapter's contract test checks
(``tests/integration/test_port_contracts.py`` runs the same assertions on both):
sequences per stream, de-duplication by message id, the expected-last-subject-
sequence check, images by tenant, positions that move only from where a batch
expects them. Nothing here sleeps: a fake answers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prestacop.adapters.publisher import (
    WRONG_LAST_SEQUENCE,
    NoStreamError,
    PubAck,
    PublishRejected,
)
from prestacop.alerts.ports import FeedItem, FeedState, LogEntry, StaleAlert
from prestacop.domain import codec, subjects
from prestacop.domain.events import AlertEvent, AnyEvent
from prestacop.ports.log import Delivered
from prestacop.ports.projection import (
    Advance,
    Batch,
    Envelope,
    PositionMoved,
    Projection,
    WriteResult,
)

EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
EXPECTED_LAST_SUBJECT = "Nats-Expected-Last-Subject-Sequence-Subject"
ALL_STREAMS = (*subjects.LOG_STREAMS, subjects.QUARANTINE)


def _matches(subject: str, pattern: str) -> bool:
    """NATS wildcards: ``*`` is one token, ``>`` the rest."""
    s, p = subject.split("."), pattern.split(".")
    if p[-1] == ">":
        return len(s) >= len(p) and all(
            fnmatch.fnmatchcase(a, b) for a, b in zip(s, p[:-1], strict=False)
        )
    return len(s) == len(p) and all(b == "*" or a == b for a, b in zip(s, p, strict=True))


@dataclass
class Stored:
    seq: int
    subject: str
    data: bytes
    received_at: datetime


@dataclass
class FakeLog:
    """The streams of the log in memory: what a publisher appends and readers read."""

    streams: dict[str, list[Stored]] = field(default_factory=dict)
    ids: dict[tuple[str, str], int] = field(default_factory=dict)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    listeners: list[Callable[[str, Stored], object]] = field(default_factory=list)

    def stream_of(self, subject: str) -> str | None:
        for spec in ALL_STREAMS:
            if any(_matches(subject, p) for p in spec.subjects):
                return spec.name
        return None

    def append(
        self, subject: str, data: bytes, msg_id: str | None, headers: Mapping[str, str]
    ) -> PubAck:
        stream = self.stream_of(subject)
        if stream is None:
            raise NoStreamError(f"no stream for this subject ({subject})")
        messages = self.streams.setdefault(stream, [])
        if msg_id is not None and (stream, msg_id) in self.ids:
            return PubAck(stream, self.ids[stream, msg_id], duplicate=True)
        expected = headers.get(EXPECTED_LAST_SUBJECT_SEQ)
        if expected is not None:
            last = self.last(stream, headers.get(EXPECTED_LAST_SUBJECT, subject))
            if (last.seq if last else 0) != int(expected):
                raise PublishRejected(400, WRONG_LAST_SEQUENCE, "wrong last sequence")
        seq = len(messages) + 1
        stored = Stored(seq, subject, data, self.clock())
        messages.append(stored)
        if msg_id is not None:
            self.ids[stream, msg_id] = seq
        for listener in list(self.listeners):
            listener(stream, stored)
        return PubAck(stream, seq)

    def last(self, stream: str, subject: str) -> Stored | None:
        return next(
            (m for m in reversed(self.streams.get(stream, [])) if _matches(m.subject, subject)),
            None,
        )

    def read(self, stream: str, after: int = 0) -> list[Stored]:
        return self.streams.get(stream, [])[after:]


class FakePublisher:
    """``EventPublisher`` over a ``FakeLog``: every ack is ready at once."""

    def __init__(self, log: FakeLog | None = None) -> None:
        self.log = log or FakeLog()
        self.notices: list[tuple[str, bytes]] = []

    async def publish(
        self,
        subject: str,
        payload: bytes,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> asyncio.Future[PubAck]:
        fut: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()
        try:
            fut.set_result(self.log.append(subject, payload, msg_id, headers or {}))
        except Exception as err:
            fut.set_exception(err)
        return fut

    async def publish_and_wait(
        self,
        subject: str,
        payload: bytes,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PubAck:
        return await (await self.publish(subject, payload, msg_id, headers))

    async def publish_retrying(
        self, subject: str, payload: bytes, msg_id: str, *, retry_for: float = 60.0
    ) -> PubAck:
        return await self.publish_and_wait(subject, payload, msg_id)

    async def flush(self) -> None:
        return None

    async def notify(self, subject: str, data: bytes) -> None:
        self.notices.append((subject, data))


class FakeImageStore:
    """``ImageStore`` in a dict."""

    def __init__(self) -> None:
        self.images: dict[tuple[str, str], tuple[bytes, str]] = {}

    async def put(self, tenant: str, image_id: str, data: bytes, content_type: str) -> None:
        self.images[tenant, image_id] = (data, content_type)

    async def get(self, tenant: str, image_id: str) -> bytes | None:
        found = self.images.get((tenant, image_id))
        return found[0] if found else None

    async def exists(self, tenant: str, image_id: str) -> bool:
        return (tenant, image_id) in self.images

    async def digest(self, tenant: str, image_id: str) -> tuple[str, int] | None:
        found = self.images.get((tenant, image_id))
        return None if found is None else (hashlib.sha256(found[0]).hexdigest(), len(found[0]))


class FakeAlertLog:
    """``AlertLog`` over a ``FakeLog``: the replay, then every append pushed live."""

    def __init__(
        self, tenant: str, log: FakeLog | None = None, images: FakeImageStore | None = None
    ) -> None:
        self._tenant = subjects.check_tenant(tenant)
        self.log = log or FakeLog()
        self.images = images or FakeImageStore()
        self._listener: Callable[[str, Stored], object] | None = None
        self.closed = False

    @property
    def tenant(self) -> str:
        return self._tenant

    def _entry(self, m: Stored) -> LogEntry:
        return LogEntry(
            m.seq, m.subject, m.received_at, codec.decode(m.subject, m.data, m.received_at)
        )

    def _mine(self, m: Stored) -> bool:
        return subjects.parse(m.subject).tenant == self._tenant

    async def follow(
        self, on_item: Callable[[FeedItem], object], on_state: Callable[[FeedState], object]
    ) -> None:
        on_state("replaying")
        for m in self.log.read(subjects.ALERTS.name):
            if self._mine(m):
                on_item(self._entry(m))
        on_state("live")

        def live(stream: str, m: Stored) -> None:
            if stream == subjects.ALERTS.name and self._mine(m):
                on_item(self._entry(m))

        self._listener = live
        self.log.listeners.append(live)

    def _stored(self, event: AnyEvent, headers: Mapping[str, str]) -> PubAck:
        subject, data = codec.encode_checked(self._tenant, event, self.log.clock())
        return self.log.append(subject, data, event.message_id, headers)

    def raise_alert(self, violation: AnyEvent, image: bytes = b"img") -> int:
        """A drone's review request (its image first), as the real log would receive it."""
        image_id = getattr(violation, "image_id", None)
        if image_id:
            self.images.images[self._tenant, image_id] = (image, "image/png")
        return self._stored(violation, {}).seq

    def report_position(self, position: AnyEvent) -> int:
        return self._stored(position, {}).seq

    async def append(self, event: AlertEvent, *, expected_last_seq: int) -> int:
        try:
            life = subjects.alert_life(self._tenant, event.alert_id)
            headers = {EXPECTED_LAST_SUBJECT_SEQ: str(expected_last_seq)}
            headers[EXPECTED_LAST_SUBJECT] = life
            return self._stored(event, headers).seq
        except PublishRejected as err:
            raise StaleAlert(str(err)) from None

    async def _last_on(self, stream: str, subject: str) -> LogEntry | None:
        m = self.log.last(stream, subject)
        return self._entry(m) if m else None

    async def last_on_alert(self, alert_id: str) -> LogEntry | None:
        life = subjects.alert_life(self._tenant, alert_id)
        return await self._last_on(subjects.ALERTS.name, life)

    async def last_position(self, drone_id: str) -> LogEntry | None:
        return await self._last_on(subjects.DRONES.name, subjects.position(self._tenant, drone_id))

    async def image(self, image_id: str) -> bytes | None:
        return await self.images.get(self._tenant, image_id)

    async def close(self) -> None:
        self.closed = True
        if self._listener in self.log.listeners:
            self.log.listeners.remove(self._listener)


class FakeCursor:
    """Records what a projection executes; a view store fake needs no SQL engine."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, object]] = []

    def execute(self, query: str, params: object = ()) -> FakeCursor:
        self.statements.append((str(query), params))
        return self


class FakeViewStore:
    """``ViewStore`` in memory, with the real one's rules: a batch applies whole or, if it
    fails, event by event with the poison set aside; positions move only from where the
    batch expects them (else ``PositionMoved``), together with the rows."""

    def __init__(self) -> None:
        self.tracking: dict[str, int] = {}
        self.rows: list[tuple[str, object]] = []
        self.dead_letters: dict[tuple[str, int], str] = {}
        self.batches: list[list[Envelope]] = []

    def positions(self, streams: tuple[str, ...]) -> dict[str, int]:
        return {s: self.tracking.get(s, 0) for s in streams}

    def close(self) -> None:
        pass

    def write(
        self,
        projection: Projection,
        envelopes: list[Envelope],
        advance: dict[str, Advance],
        *,
        live_name: str | None,
        counts: dict[str, int],
        rate: float,
    ) -> WriteResult:
        for stream, adv in advance.items():
            stored = self.tracking.get(stream, 0)
            if stored != adv.expected:
                raise PositionMoved(f"{stream}: at {stored}, not {adv.expected}")
        result = WriteResult()
        cur = FakeCursor()
        try:
            projection.apply(Batch(envelopes), cur)
            result.applied = len(envelopes)
        except Exception:
            cur = FakeCursor()
            for env in envelopes:
                one = FakeCursor()
                try:
                    projection.apply(Batch([env]), one)
                except Exception as err:
                    self.dead_letters[env.stream, env.seq] = repr(err)
                    result.dead.append((env, repr(err)))
                    continue
                cur.statements += one.statements
                result.applied += 1
        self.rows += cur.statements
        self.batches.append(list(envelopes))
        for stream, adv in advance.items():
            self.tracking[stream] = adv.new
        return result


class FakeLogReader:
    """``LogReader`` over one stream of a ``FakeLog``, from ``start_seq`` on."""

    def __init__(self, log: FakeLog, stream: str, start_seq: int = 1) -> None:
        self.log, self.stream = log, stream
        self.next_seq = max(1, start_seq)
        self._arrived = asyncio.Event()
        self.log.listeners.append(self._on_append)

    def _on_append(self, stream: str, m: Stored) -> None:
        if stream == self.stream:
            self._arrived.set()

    @property
    def caught_up(self) -> bool:
        return not self.log.read(self.stream, self.next_seq - 1)

    async def take(self, max_n: int, timeout: float) -> list[tuple[int, str, bytes, int]]:
        ready = self.log.read(self.stream, self.next_seq - 1)
        if not ready:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except TimeoutError:
                return []
            ready = self.log.read(self.stream, self.next_seq - 1)
        chunk = ready[:max_n]
        self.next_seq = chunk[-1].seq + 1
        return [
            (m.seq, m.subject, m.data, int(m.received_at.timestamp() * 1e9), None) for m in chunk
        ]

    async def stop(self) -> None:
        if self._on_append in self.log.listeners:
            self.log.listeners.remove(self._on_append)


@dataclass
class FakeConsumer:
    """A durable consumer's state: what was acknowledged, what is handed out."""

    acked: set[int] = field(default_factory=set)
    out: set[int] = field(default_factory=set)


class FakeAckedReader:
    """``AckedReader`` over one stream of a ``FakeLog``: what a stopped reader held and did
    not acknowledge is handed out again at once (the real one waits ``ack_wait``)."""

    def __init__(self, log: FakeLog, stream: str, consumer: FakeConsumer) -> None:
        self.log, self.stream, self.consumer = log, stream, consumer
        self.mine: set[int] = set()
        self._arrived = asyncio.Event()
        self.log.listeners.append(self._on_append)

    def _on_append(self, stream: str, m: Stored) -> None:
        if stream == self.stream:
            self._arrived.set()

    def _ready(self) -> list[Stored]:
        c = self.consumer
        return [m for m in self.log.read(self.stream) if m.seq not in c.acked | c.out]

    async def take(self, max_n: int, timeout: float) -> list[Delivered]:
        if not self._ready():
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout)
        chunk = self._ready()[:max_n]
        for m in chunk:
            self.consumer.out.add(m.seq)
            self.mine.add(m.seq)
        ns = lambda m: int(m.received_at.timestamp() * 1e9)  # noqa: E731
        return [Delivered(m.subject, m.data, self.stream, m.seq, ns(m), str(m.seq)) for m in chunk]

    async def ack(self, msg: Delivered) -> None:
        self.consumer.acked.add(msg.seq)
        self.consumer.out.discard(msg.seq)
        self.mine.discard(msg.seq)

    async def stop(self) -> None:
        self.consumer.out -= self.mine
        self.mine.clear()
        if self._on_append in self.log.listeners:
            self.log.listeners.remove(self._on_append)


class FakeJudgedLog:
    """``JudgedLog`` over a ``FakeLog``: one ``FakeConsumer`` per stream and durable name."""

    def __init__(self, log: FakeLog) -> None:
        self.log = log
        self.consumers: dict[tuple[str, str], FakeConsumer] = {}

    async def acked_reader(
        self,
        stream: str,
        durable: str,
        *,
        filter_subjects: list[str],
        ack_wait: float,
        description: str | None = None,
        batch: int = 500,
    ) -> FakeAckedReader:
        consumer = self.consumers.setdefault((stream, durable), FakeConsumer())
        return FakeAckedReader(self.log, stream, consumer)
