"""The alert stream in JetStream: a pushed feed for the console, and guarded appends.

The feed is an ordered push consumer of our own on PRESTACOP_ALERTS, filtered to
one tenant and started at the stream's beginning (so alerts raised while no
console was open are there). It is ours rather than nats-py's ordered consumer
because it must come back by itself after the server restarts: on reconnect, on a
gap in the consumer sequence, or when heartbeats stop, it is recreated from the
last stream sequence it handed over, so nothing is lost nor handed over twice.

Appends carry ``Nats-Expected-Last-Subject-Sequence`` (0 when the alert's subject
is still empty): two officers can never both write on a version of the alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, Header
from nats.js.errors import NotFoundError

from prestacop.adapters.images import ImageStore
from prestacop.adapters.nats_connection import connect
from prestacop.adapters.publisher import (
    WRONG_LAST_SEQUENCE,
    Publisher,
    PublishError,
    PublishRejected,
)
from prestacop.adapters.topology import ensure_topology
from prestacop.alerts.ports import (
    AlertLogUnavailable,
    FeedItem,
    FeedState,
    LogEntry,
    StaleAlert,
    Unreadable,
)
from prestacop.domain import subjects
from prestacop.domain.codec import InvalidMessage, decode, encode_checked
from prestacop.domain.events import AlertEvent

log = logging.getLogger(__name__)
_UNAVAILABLE = (NatsError, TimeoutError, OSError)


class JetStreamAlertLog:
    """``AlertLog`` over one NATS connection of its own."""

    def __init__(self, tenant: str, *, heartbeat_s: float = 1.0) -> None:
        self.tenant = subjects.check_tenant(tenant)
        self._heartbeat_s = heartbeat_s
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._publisher: Publisher | None = None
        self._images: ImageStore | None = None
        self._on_item: Callable[[FeedItem], None] | None = None
        self._on_state: Callable[[FeedState], None] | None = None
        self._sub: Subscription | None = None
        self._consumer: str | None = None
        self._last_seq = 0
        self._next_dseq = 1
        self._generation = 0
        self._last_activity = time.monotonic()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._state: FeedState = "connecting"

    @classmethod
    async def open(
        cls,
        nats_url: str,
        tenant: str,
        *,
        name: str = "prestacop-console",
        setup: bool = True,
        heartbeat_s: float = 1.0,
        ack_timeout: float = 5.0,
    ) -> JetStreamAlertLog:
        self = cls(tenant, heartbeat_s=heartbeat_s)
        self._nc = await connect(nats_url, name, on_status=self._on_connection)
        self._js = self._nc.jetstream()
        if setup:
            await ensure_topology(self._js)
        else:  # an officer may read the streams, not change them
            try:
                await self._js.stream_info(subjects.ALERTS.name)
            except NotFoundError:
                await self._nc.close()
                raise AlertLogUnavailable(
                    f"no stream {subjects.ALERTS.name}: create the topology (`prestacop setup`)"
                ) from None
        self._publisher = await Publisher(self._nc, window=64, ack_timeout=ack_timeout).start()
        self._images = await ImageStore.open(self._js)
        return self

    @property
    def state(self) -> FeedState:
        return self._state

    @property
    def last_seq(self) -> int:
        """The last stream sequence handed to the feed's handler."""
        return self._last_seq

    # -- the feed -------------------------------------------------------------

    async def follow(
        self, on_item: Callable[[FeedItem], None], on_state: Callable[[FeedState], None]
    ) -> None:
        self._on_item, self._on_state = on_item, on_state
        await self._restart("starting")
        self._spawn(self._watch())

    def _set_state(self, state: FeedState) -> None:
        if state != self._state:
            self._state = state
            if self._on_state is not None:
                self._on_state(state)

    def _spawn(self, coro: object) -> None:
        task = asyncio.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_connection(self, status: str) -> None:
        if self._on_item is None or self._closed:
            return
        if status == "disconnected":
            self._set_state("reconnecting")
        elif status == "connected":
            self._spawn(self._restart("reconnected"))

    async def _watch(self) -> None:
        """Heartbeats come every ``heartbeat_s``: silence means the consumer is gone."""
        while not self._closed:
            await asyncio.sleep(self._heartbeat_s)
            silent = time.monotonic() - self._last_activity > 3 * self._heartbeat_s
            if (
                silent
                and self._nc is not None
                and self._nc.is_connected
                and not self._lock.locked()
            ):
                await self._restart("heartbeats stopped")

    async def _restart(self, why: str) -> None:
        """(Re)create the consumer from the sequence after the last one handed over."""
        async with self._lock:
            log.info("alert feed for %s: (re)starting consumer (%s)", self.tenant, why)
            delay = 0.1
            while not self._closed:
                try:
                    await self._start_consumer()
                    return
                except _UNAVAILABLE as err:
                    log.info("alert feed: consumer not created yet (%r); retrying", err)
                    self._set_state("reconnecting")
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 1.0)

    async def _start_consumer(self) -> None:
        assert self._nc is not None and self._js is not None
        old_sub, old_consumer = self._sub, self._consumer
        self._sub = None
        if old_sub is not None:
            with contextlib.suppress(*_UNAVAILABLE):
                await old_sub.unsubscribe()
        if old_consumer is not None:
            with contextlib.suppress(*_UNAVAILABLE, NotFoundError):
                await self._js.delete_consumer(subjects.ALERTS.name, old_consumer)
        inbox = self._nc.new_inbox()
        self._next_dseq = 1
        self._generation += 1
        on_msg = functools.partial(self._on_msg, self._generation)
        sub = await self._nc.subscribe(inbox, cb=on_msg)
        self._sub = sub
        start = self._last_seq + 1
        config = ConsumerConfig(
            # named, so the request is CONSUMER.CREATE.<stream>.<name>... (officers' permission)
            name=f"console_{uuid.uuid4().hex[:16]}",
            deliver_subject=inbox,
            filter_subject=f"{subjects.ROOT}.{self.tenant}.>",
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start > 1 else DeliverPolicy.ALL,
            opt_start_seq=start if start > 1 else None,
            ack_policy=AckPolicy.NONE,
            max_deliver=1,
            flow_control=True,
            idle_heartbeat=self._heartbeat_s,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=max(10.0, 10 * self._heartbeat_s),
        )
        try:
            info = await self._js.add_consumer(subjects.ALERTS.name, config=config)
        except BaseException:
            with contextlib.suppress(*_UNAVAILABLE):
                await sub.unsubscribe()
            raise
        self._consumer = info.name
        self._last_activity = time.monotonic()
        if self._next_dseq == 1:  # nothing handed over yet from this consumer
            self._set_state("replaying" if info.num_pending else "live")

    async def _on_msg(self, generation: int, msg: Msg) -> None:
        if generation != self._generation:
            return  # a leftover of a consumer we replaced
        self._last_activity = time.monotonic()
        if msg.headers and msg.headers.get(Header.STATUS) == "100":
            await self._on_control(msg)
            return
        meta = msg.metadata
        if meta.sequence.consumer != self._next_dseq:
            self._spawn(self._restart(f"gap: got {meta.sequence.consumer}, want {self._next_dseq}"))
            return
        self._next_dseq += 1
        seq = meta.sequence.stream
        if seq <= self._last_seq:
            return
        self._last_seq = seq
        try:
            event = decode(msg.subject, msg.data, received_at=meta.timestamp)
            item: FeedItem = LogEntry(seq, msg.subject, meta.timestamp, event)
        except InvalidMessage as err:
            item = Unreadable(seq, msg.subject, str(err))
        assert self._on_item is not None
        self._on_item(item)
        if meta.num_pending == 0:
            self._set_state("live")

    async def _on_control(self, msg: Msg) -> None:
        """Flow control asks for an answer; a heartbeat says what we should have seen."""
        assert self._nc is not None
        if msg.reply:
            with contextlib.suppress(*_UNAVAILABLE):
                await self._nc.publish(msg.reply, b"")
        last = msg.headers.get(Header.LAST_CONSUMER) if msg.headers else None
        if last is not None and int(last) != self._next_dseq - 1:
            self._spawn(self._restart(f"heartbeat says {last}, handed {self._next_dseq - 1}"))
        elif self._state == "reconnecting" or (self._state == "replaying" and last is not None):
            self._set_state("live")

    # -- writing and reading single messages ----------------------------------

    async def append(self, event: AlertEvent, *, expected_last_seq: int) -> int:
        assert self._publisher is not None
        subject, data = encode_checked(self.tenant, event, datetime.now(UTC))
        headers = {Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(expected_last_seq)}
        try:
            ack = await self._publisher.publish_and_wait(
                subject, data, msg_id=event.message_id, headers=headers
            )
        except PublishRejected as err:
            if err.err_code == WRONG_LAST_SEQUENCE:
                raise StaleAlert(str(err)) from None
            raise AlertLogUnavailable(f"the log refused it: {err}") from None
        except (PublishError, *_UNAVAILABLE) as err:
            raise AlertLogUnavailable(f"not written, the log did not answer: {err}") from None
        return ack.seq

    async def _last_on(self, stream: str, subject: str) -> LogEntry | None:
        assert self._js is not None
        try:
            raw = await self._js.get_last_msg(stream, subject, direct=True)
        except NotFoundError:
            return None
        except _UNAVAILABLE as err:
            raise AlertLogUnavailable(f"cannot read {subject}: {err!r}") from None
        assert raw.seq is not None and raw.data is not None
        received = raw.time or datetime.now(UTC)
        return LogEntry(raw.seq, subject, received, decode(subject, raw.data, received))

    async def last_on_alert(self, alert_id: str) -> LogEntry | None:
        return await self._last_on(subjects.ALERTS.name, subjects.alert(self.tenant, alert_id))

    async def last_position(self, drone_id: str) -> LogEntry | None:
        return await self._last_on(subjects.DRONES.name, subjects.position(self.tenant, drone_id))

    async def image(self, image_id: str) -> bytes | None:
        assert self._images is not None
        try:
            return await self._images.get(self.tenant, image_id)
        except _UNAVAILABLE as err:
            raise AlertLogUnavailable(f"cannot read image {image_id}: {err!r}") from None

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        if self._nc is None or self._nc.is_closed:
            return
        if self._sub is not None:
            with contextlib.suppress(*_UNAVAILABLE):
                await self._sub.unsubscribe()
        if self._consumer is not None and self._js is not None:
            with contextlib.suppress(*_UNAVAILABLE, NotFoundError):
                await self._js.delete_consumer(subjects.ALERTS.name, self._consumer)
        if self._publisher is not None:
            await self._publisher.close()
        with contextlib.suppress(*_UNAVAILABLE):
            await self._nc.close()
