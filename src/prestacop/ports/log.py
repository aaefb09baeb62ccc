"""What services need of the log and the image store, as Protocols, with the plain
values and errors that cross them (acks, publish errors, messages read).

``adapters/`` implements them over JetStream (publisher, images, log_reader, atomic,
buckets); ``bootstrap`` wires them; ``tests/unit/fakes.py`` implements them in memory;
one contract test class per port runs the same assertions against both
(``tests/integration/test_port_contracts.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, Protocol, runtime_checkable

import msgspec


class PubAck(msgspec.Struct, frozen=True):
    """The log's answer to a stored message (``Ack`` below is its shape as a Protocol)."""

    stream: str
    seq: int
    duplicate: bool = False


class PublishError(Exception):
    """The log did not store a message."""


class PublishRejected(PublishError):
    """The stream refused the message (e.g. wrong expected sequence); not worth a retry."""

    def __init__(self, code: int, err_code: int, description: str) -> None:
        super().__init__(f"{description} (code {code}, err_code {err_code})")
        self.code = code
        self.err_code = err_code
        self.description = description


class NoStreamError(PublishError):
    """No responders (status 503): no stream captures the subject, or the stream has no
    leader right now (a cluster failover). For a subject of the protocol it is the latter:
    resend with the same message id."""


class AckTimeout(PublishError):
    """No ack in time (server gone or overloaded): resend with the same message id."""


MAX_IMAGE_BYTES = 8 * 1024 * 1024
"""The largest image a drone may store."""
HEADER_ROOM = 4 * 1024
"""Room for an image message's headers above its bytes (the server's payload limit)."""

WRONG_LAST_SEQUENCE = 10071
DUPLICATE_IN_BATCH = 10201
"""An atomic batch holding an id the stream saw within its de-duplication window."""


def is_transient(err: BaseException) -> bool:
    """True if the same message may be stored by resending it unchanged: no ack in time,
    no responders (503), or a JetStream error with code 503 (no leader, unavailable)."""
    if isinstance(err, AckTimeout | NoStreamError):
        return True
    return isinstance(err, PublishRejected) and err.code == 503


class Ack(Protocol):
    """Where the log stored a message: its stream, its sequence, whether it was a duplicate."""

    @property
    def stream(self) -> str: ...

    @property
    def seq(self) -> int: ...

    @property
    def duplicate(self) -> bool: ...


@runtime_checkable
class EventPublisher(Protocol):
    """Appends to the log with a bounded window of unacknowledged messages.

    ``msg_id`` de-duplicates within the stream's window; the header
    ``Nats-Expected-Last-Subject-Sequence`` makes a write conditional. A refusal
    fails the ack's future (``PublishRejected``, ``NoStreamError``, ``AckTimeout``).
    """

    async def publish(
        self,
        subject: str,
        payload: bytes,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> asyncio.Future[PubAck]: ...

    async def publish_and_wait(
        self,
        subject: str,
        payload: bytes,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PubAck: ...

    async def publish_retrying(
        self, subject: str, payload: bytes, msg_id: str, *, retry_for: float = 60.0
    ) -> PubAck:
        """Sent again under the same ``msg_id`` (stored once) while the server does not
        answer, for up to ``retry_for`` seconds: an ack lost with a server is no failure."""
        ...

    async def flush(self) -> None: ...

    async def notify(self, subject: str, data: bytes) -> None:
        """A core message, not stored (a drone's feedback): best effort."""
        ...


@runtime_checkable
class ImageStore(Protocol):
    """Violation images by tenant and id: written before the violation that names them."""

    async def put(self, tenant: str, image_id: str, data: bytes, content_type: str) -> None: ...

    async def get(self, tenant: str, image_id: str) -> bytes | None: ...

    async def exists(self, tenant: str, image_id: str) -> bool: ...

    async def digest(self, tenant: str, image_id: str) -> tuple[str, int] | None:
        """SHA-256 (hex) and size of a stored image, None if none is stored."""
        ...


RawMessage = tuple[int, str, bytes, int, dict[str, str] | None]
"""A message as read: stream sequence, subject, bytes, the log's timestamp in ns, and its
headers when the reader was asked for them (else None)."""
Raw = RawMessage


def timestamp(ns: int) -> datetime:
    """The JetStream time of a message, converted exactly as nats-py's ``metadata`` does
    (the gate judges with that one: a rebuild must judge the same)."""
    return datetime.fromtimestamp(ns / 1_000_000_000.0, UTC)


@dataclass(frozen=True)
class StreamHead:
    """The last sequence of a stream and, when known, the log time of its last message."""

    name: str
    last_seq: int
    last_time: datetime | None


class _Sequence(NamedTuple):
    stream: int


class _Metadata(NamedTuple):
    stream: str
    sequence: _Sequence
    timestamp: datetime


class Delivered:
    """A message handed over until acknowledged: its subject, bytes, and where it sits in
    the log (``metadata`` has the shape of nats-py's, which the gate judges by)."""

    __slots__ = ("data", "ns", "reply", "seq", "stream", "subject")

    def __init__(
        self, subject: str, data: bytes, stream: str, seq: int, ns: int, reply: str
    ) -> None:
        self.subject, self.data, self.stream = subject, data, stream
        self.seq, self.ns, self.reply = seq, ns, reply

    @property
    def metadata(self) -> _Metadata:
        return _Metadata(self.stream, _Sequence(self.seq), timestamp(self.ns))


class AckedReader(Protocol):
    """A durable reader of one stream: what it hands over comes again until acknowledged."""

    async def take(self, max_n: int, timeout: float) -> list[Delivered]:
        """Up to ``max_n`` messages; ``[]`` after ``timeout`` at the head."""
        ...

    async def ack(self, msg: Delivered) -> None: ...

    async def stop(self) -> None: ...


class JudgedLog(Protocol):
    """The log as the gate reads it: each live stream through its durable consumer."""

    async def acked_reader(
        self,
        stream: str,
        durable: str,
        *,
        filter_subjects: list[str],
        ack_wait: float,
        description: str | None = None,
        batch: int = 500,
    ) -> AckedReader: ...


@runtime_checkable
class LogReader(Protocol):
    """One stream from a position the caller owns, in order, holding a bounded number."""

    @property
    def stream(self) -> str: ...

    @property
    def caught_up(self) -> bool:
        """Everything the stream held when last asked is handed over."""
        ...

    async def take(self, max_n: int, timeout: float) -> list[RawMessage]:
        """Up to ``max_n`` next messages, in order; ``[]`` after ``timeout`` at the head."""
        ...

    async def stop(self) -> None: ...


class LogSource(Protocol):
    """The log as services read it: readers from a position, and the heads of streams."""

    async def reader(
        self,
        stream: str,
        start_seq: int,
        *,
        name: str = "reader",
        filter_subject: str | None = None,
        headers_only: bool = False,
        buffer: int = 8_000,
    ) -> LogReader:
        """A started reader of ``stream`` from ``start_seq`` (``filter_subject`` only),
        holding or asking for at most ``buffer`` messages."""
        ...

    async def head(self, stream: str, *, with_time: bool = False) -> StreamHead:
        """The head of ``stream`` (zero when it does not exist yet); ``with_time``: read the
        time of its last message too (one more request)."""
        ...


class BatchPublisher(Protocol):
    """Atomic batches: stored whole or not at all, one ack each (``adapters/atomic.py``)."""

    async def publish_batch(
        self, subjects: Sequence[str], payloads: Sequence[bytes], ids: Sequence[str]
    ) -> asyncio.Future[PubAck]: ...

    async def close(self) -> None: ...


class RecordBucket(Protocol):
    """Small records kept in the log itself, one value per key (a key-value bucket)."""

    async def get(self, key: str) -> bytes | None:
        """The value of ``key``, None if it has none."""
        ...

    async def put(self, key: str, data: bytes) -> None: ...


class HistoryLog(Protocol):
    """What the NYPD replay needs of the log: a publisher, the log to read back, atomic
    batches where the stream takes them, and whether the connection is up."""

    @property
    def publisher(self) -> EventPublisher: ...

    @property
    def source(self) -> LogSource: ...

    @property
    def connected(self) -> bool: ...

    @property
    def closed(self) -> bool: ...

    async def batch_publisher(self, window: int, ack_timeout: float) -> BatchPublisher | str:
        """An atomic batch publisher, or the one line that says why the history is sent with
        one ack per message (a server before 2.12, or a stream that does not allow them)."""
        ...

    async def identity(self) -> str:
        """Which log this is (the history stream's creation and its server or cluster)."""
        ...

    async def bucket(self, name: str, description: str) -> RecordBucket:
        """The bucket ``name``, made if it does not exist yet."""
        ...

    async def close(self) -> None: ...


class RetryingPublisher(EventPublisher, Protocol):
    """A publisher that also resends "try again" answers under the same message id."""

    async def publish_retrying(
        self,
        subject: str,
        payload: bytes,
        msg_id: str,
        *,
        retry_for: float = 60.0,
        headers: Mapping[str, str] | None = None,
    ) -> PubAck: ...


class ProducerLog(Protocol):
    """What a drone (or a fleet of them) needs: a publisher, the images, its feedback."""

    @property
    def publisher(self) -> RetryingPublisher: ...

    @property
    def images(self) -> ImageStore: ...

    async def listen(self, subject: str, callback: Callable[[bytes], None]) -> object:
        """Core messages on ``subject`` while connected (a drone's feedback)."""
        ...

    async def close(self) -> None: ...
