"""The gate's worker: durable consumers on the live streams, quarantine on failure.

Exactly once in effect: each message is acknowledged on its own (explicit acks),
and only after its verdict is stored, so a gate killed at any instant leaves no
message unjudged (an unacknowledged one is redelivered after ``ack_wait``). A
message judged again after a kill yields the same record under the same
``Nats-Msg-Id`` (its log position): the quarantine stream and the ``rejected``
view key on it, so it is never set aside twice.
History (the NYPD replay) is validated at its source with the same codec and is
not read here by default: it is bulk, and bulk must not slow the live gate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
from nats.aio.msg import Msg

from prestacop.domain import codec, subjects
from prestacop.domain.events import ViolationReported
from prestacop.gate.records import Quarantined, encoder, quarantine_record
from prestacop.ports.log import Delivered, EventPublisher, ImageStore, JudgedLog, LogSource

log = logging.getLogger(__name__)

CONSUMER = "gate"
#: Seconds before a message fetched by a gate that died is handed out again.
ACK_WAIT = 30.0
LIVE_STREAMS = (subjects.DRONES.name, subjects.ALERTS.name)


@dataclass
class GateCounters:
    checked: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)


def tenant_of(subject: str) -> str:
    parts = subject.split(".")
    token = parts[1] if len(parts) > 1 else ""
    return token if subjects.TENANT_RE.match(token) else "_invalid"


QUARANTINE_RETRY_S = 3600.0
"""How long a verdict is sent again while the server does not answer (a stop cuts it short)."""
IMAGE_WAIT_S = 3.0
"""How long a violation waits for its image before it is set aside as ``missing_image``."""


class Gate:
    def __init__(
        self,
        log: JudgedLog,
        publisher: EventPublisher,
        images: ImageStore,
        batch: int = 512,
        ack_wait: float = ACK_WAIT,
    ) -> None:
        self._log = log
        self.consumer = CONSUMER
        self._publisher = publisher
        self._images = images
        self._batch = batch
        self._ack_wait = ack_wait
        self.counters = GateCounters()
        self.image_wait_s = IMAGE_WAIT_S

    async def judge(self, msg: Msg | Delivered) -> Quarantined | None:
        """The reason a message must be set aside, or None if it is a valid event."""
        meta = msg.metadata
        received_at = meta.timestamp or datetime.now(UTC)
        stream, seq = meta.stream, meta.sequence.stream
        event = None
        try:
            event = codec.decode(msg.subject, msg.data, received_at)
            if isinstance(event, ViolationReported) and event.image_id is not None:
                await self._check_image(tenant_of(msg.subject), event, received_at)
        except codec.InvalidMessage as bad:
            # a valid event refused for its image is named: the views take it back
            mid = getattr(event, "message_id", None)
            return quarantine_record(
                stream, seq, msg.subject, received_at, bad.reason, bad.detail, msg.data, mid
            )
        return None

    async def _check_image(
        self, tenant: str, event: ViolationReported, received_at: datetime
    ) -> None:
        """The image is stored and, for a v2 violation, is the one it names (bytes, size)."""
        assert event.image_id is not None
        stored = await self._images.digest(tenant, event.image_id)
        # the image may still be on its way (sent after the violation, or slower): wait until
        # ``image_wait_s`` after the violation reached the log, so that a violation is not set
        # aside forever for arriving first, and a gate catching up on old messages never waits
        # (an absent image costs one small "not found" per look; looks back off to 1 s)
        age = (datetime.now(UTC) - received_at).total_seconds()
        deadline = time.monotonic() + self.image_wait_s - max(0.0, age)
        pause = 0.05
        while stored is None and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 1.0)
            stored = await self._images.digest(tenant, event.image_id)
        if stored is None:
            raise codec.InvalidMessage(
                "missing_image", f"$.image_id {event.image_id!r} is not in the image store"
            )
        named = (event.image_sha256, event.image_size)
        if named != (None, None) and named != stored:
            raise codec.InvalidMessage(
                "image_mismatch",
                f"$.image_sha256/$.image_size {named[0]}/{named[1]} differ from the stored "
                f"image {event.image_id!r}: {stored[0]}/{stored[1]}",
            )

    async def quarantine(self, record: Quarantined) -> None:
        subject = subjects.quarantine(tenant_of(record.subject), record.stream)
        # an ack lost with a server going away is no reason to end the gate: the same record
        # under the same key is stored once, however often it is sent
        await self._publisher.publish_retrying(
            subject, encoder.encode(record), record.message_key, retry_for=QUARANTINE_RETRY_S
        )
        self.counters.quarantined[record.reason] += 1
        log.info("quarantined %s/%s: %s", record.stream, record.seq, record.detail)
        await self._tell_the_drone(record)

    async def _tell_the_drone(self, record: Quarantined) -> None:
        """The verdict on the drone's own feedback subject (only it may read it)."""
        try:
            where = subjects.parse(record.subject)
        except subjects.SubjectError:
            return  # no drone to tell
        if where.kind not in ("position", "violation", "review"):
            return
        try:  # the payload is what was set aside: anything, even 1,000 nested arrays
            message_id = msgspec.json.decode(record.payload).get("message_id")
        except (msgspec.DecodeError, AttributeError, RecursionError, ValueError):
            message_id = None
        verdict = {
            "message_id": message_id if isinstance(message_id, str) else None,
            "stream": record.stream,
            "seq": record.seq,
            "reason": record.reason,
            "detail": record.detail,
        }
        try:  # best effort: a verdict the drone misses is still in the quarantine stream
            await self._publisher.notify(
                subjects.feedback(where.tenant, where.key), msgspec.json.encode(verdict)
            )
        except Exception as err:
            log.warning("feedback to %s not sent: %r", record.subject, err)

    async def run_stream(self, stream: str, stop: asyncio.Event) -> None:
        """Judge ``stream`` until ``stop`` is set, through the gate's durable consumer."""
        spec = next(spec for spec in subjects.LOG_STREAMS if spec.name == stream)
        reader = await self._log.acked_reader(
            stream,
            self.consumer,
            filter_subjects=list(spec.subjects),
            ack_wait=self._ack_wait,
            description="Validation gate: quarantines invalid messages.",
            batch=self._batch,
        )
        try:
            while not stop.is_set():
                msgs = await reader.take(self._batch, 1.0)
                if not msgs:
                    continue
                verdicts = await asyncio.gather(*(self.judge(m) for m in msgs))
                for msg, record in zip(msgs, verdicts, strict=True):
                    if record is not None:
                        await self.quarantine(record)
                    await reader.ack(msg)  # only once its verdict is stored
                self.counters.checked += len(msgs)
        finally:
            await reader.stop()

    async def run(self, stop: asyncio.Event, streams: tuple[str, ...] = LIVE_STREAMS) -> None:
        """Judge ``streams`` until ``stop`` is set; one loop failing stops the others."""
        async with asyncio.TaskGroup() as group:
            for stream in streams:
                group.create_task(self.run_stream(stream, stop))


async def read_quarantine(log: LogSource, tenant: str) -> list[Quarantined]:
    """Every record set aside for ``tenant``, oldest first."""
    from prestacop.gate.records import decoder

    reader = await log.reader(
        subjects.QUARANTINE.name,
        1,
        filter_subject=subjects.quarantine(tenant, "*"),
        name="rejected",
    )
    records: list[Quarantined] = []
    try:
        while not reader.caught_up:
            records += [decoder.decode(data) for _, _, data, _, _ in await reader.take(1_000, 5.0)]
    finally:
        await reader.stop()
    return records
