"""The alert stream in JetStream: a feed for the console, and guarded appends.

The feed is the log reader (``adapters/log_reader.py``) on PRESTACOP_ALERTS,
filtered to one tenant, from just after the last sequence handed over (the
stream's start the first time, so alerts raised while no console was open are
there). The reader heals itself (a gap, silence, a reconnection: a new consumer
from the last message kept), so nothing is lost nor handed over twice. The feed
is "live" once everything the stream held is handed over — never because a
heartbeat came (a stalled push consumer sends those in the middle of history).

A second reader follows the force's quarantine records of the alert stream: a review
the gate sets aside for its image is handed over as ``SetAside`` (no alert), in
whichever order the two streams are read. Those records are few: read from the start.

Appends carry ``Nats-Expected-Last-Subject-Sequence`` (0 when the alert's subject
is still empty): two officers can never both write on a version of the alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import Header
from nats.js.errors import NotFoundError

from prestacop.adapters.images import ImageStore
from prestacop.adapters.log_reader import LogReader, timestamp
from prestacop.adapters.publisher import (
    WRONG_LAST_SEQUENCE,
    Publisher,
    PublishError,
    PublishRejected,
)
from prestacop.adapters.topology import ensure_topology
from prestacop.alerts import snapshot
from prestacop.alerts.ports import (
    AlertLogUnavailable,
    FeedItem,
    FeedState,
    LogEntry,
    SetAside,
    StaleAlert,
    StartingBoard,
    Unreadable,
)
from prestacop.domain import subjects
from prestacop.domain.codec import InvalidMessage, decode, encode_checked
from prestacop.domain.events import AlertEvent
from prestacop.domain.quarantine import decoder as quarantine_decoder

log = logging.getLogger(__name__)
SNAPSHOT_EVERY_S = 60.0
EXPECTED_LAST_SUBJECT = "Nats-Expected-Last-Subject-Sequence-Subject"  # nats-server 2.11+
"""How often a live console writes its force's board snapshot (when it changed)."""
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
        self._reader: LogReader | None = None
        self._verdicts: LogReader | None = None
        self._last_seq = 0
        self._board = snapshot.FoldedBoard()
        self._saved_seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._state: FeedState = "connecting"

    async def attach(
        self, nc: Client, *, setup: bool = True, ack_timeout: float = 5.0
    ) -> JetStreamAlertLog:
        """Use ``nc`` (opened by ``bootstrap.alert_log`` with ``on_connection`` as its status
        callback); ``setup``: create the topology, else only check that the alerts exist."""
        self._nc = nc
        self._js = nc.jetstream()
        if setup:
            await ensure_topology(self._js)
        else:  # an officer may read the streams, not change them
            try:
                await self._js.stream_info(subjects.ALERTS.name)
            except NotFoundError:
                await nc.close()
                raise AlertLogUnavailable(
                    f"no stream {subjects.ALERTS.name}: create the topology (`prestacop setup`)"
                ) from None
        self._publisher = await Publisher(nc, window=64, ack_timeout=ack_timeout).start()
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
        assert self._nc is not None
        if self._last_seq == 0:
            await self._start_from_snapshot(on_item)
        delay = 0.1
        while self._reader is None and not self._closed:
            reader = LogReader(
                self._nc,
                subjects.ALERTS.name,
                self._last_seq + 1,
                filter_subject=f"{subjects.ROOT}.{self.tenant}.>",
                buffer=4_000,
                batch=500,
                name="console",
                heartbeat=self._heartbeat_s,
            )
            try:
                self._reader = await reader.start()
            except _UNAVAILABLE as err:
                log.info("alert feed: consumer not created yet (%r); retrying", err)
                self._set_state("reconnecting")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        self._set_state("live" if self._reader and self._reader.caught_up else "replaying")
        self._spawn(self._pump())
        self._spawn(self._follow_set_aside())

    async def _follow_set_aside(self) -> None:
        """The gate's records on this force's alert stream: a review set aside for its
        image is no alert. Best effort: an officer whose credentials predate it may not
        read the quarantine stream; the console then works as before (and says so)."""
        assert self._nc is not None and self._on_item is not None
        delay = 0.5
        while self._verdicts is None and not self._closed:
            reader = LogReader(
                self._nc,
                subjects.QUARANTINE.name,
                1,
                filter_subject=subjects.quarantine(self.tenant, subjects.ALERTS.name),
                buffer=1_000,
                batch=200,
                name="console-set-aside",
                heartbeat=self._heartbeat_s,
            )
            try:
                self._verdicts = await reader.start()
            except _UNAVAILABLE as err:
                log.warning("alert feed: gate verdicts not readable (%r); retrying", err)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        while not self._closed and self._verdicts is not None:
            for _seq, _subject, data, _ts, _ in await self._verdicts.take(200, 0.5):
                try:
                    record = quarantine_decoder.decode(data)
                except Exception:  # a record is the gate's own: skip one it cannot have written
                    continue
                if (alert_id := record.set_aside_event()) is not None:
                    self._board.board.set_aside(alert_id)
                    self._on_item(SetAside(alert_id, record.reason))

    def _set_state(self, state: FeedState) -> None:
        if state != self._state:
            self._state = state
            if self._on_state is not None:
                self._on_state(state)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def on_connection(self, status: str) -> None:
        if self._reader is None or self._closed:
            return
        if status == "disconnected":
            self._reader.reset("disconnected")  # not caught up until the new consumer says so
            self._set_state("reconnecting")
        elif status == "connected":
            self._reader.reset("reconnected")

    async def _start_from_snapshot(self, on_item: Callable[[FeedItem], None]) -> None:
        """Start from the force's last board snapshot, if there is a readable one."""
        assert self._js is not None
        try:
            raw = await self._js.get_last_msg(
                f"KV_{snapshot.BUCKET}", self._snapshot_key, direct=True
            )
        except (*_UNAVAILABLE, NotFoundError) as err:  # none yet, or not allowed: from the start
            log.info("alert feed: no board snapshot (%r); reading the stream", err)
            return
        snap = snapshot.decode(raw.data or b"")
        if snap is None:
            log.warning("alert feed: unreadable board snapshot; reading the stream")
            return
        self._board.board.alerts.update((a.alert_id, a) for a in snap.alerts)
        self._board.seq = self._saved_seq = self._last_seq = snap.seq
        on_item(StartingBoard(snap.seq, tuple(snap.alerts)))

    @property
    def _snapshot_key(self) -> str:
        return f"$KV.{snapshot.BUCKET}.{self.tenant}"

    async def save_snapshot(self) -> bool:
        """Write the board as folded so far (only when live: a half-read board is no start)."""
        if self._state != "live" or self._board.seq <= self._saved_seq or self._nc is None:
            return False
        data = snapshot.encode(self._board.seq, self._board.board, datetime.now(UTC))
        assert self._publisher is not None
        try:
            await self._publisher.publish_and_wait(self._snapshot_key, data)
        except (PublishError, *_UNAVAILABLE) as err:  # no bucket, not allowed: a slower start
            log.info("alert feed: board snapshot not written: %r", err)
            return False
        self._saved_seq = self._board.seq
        return True

    async def _pump(self) -> None:
        """Hand every message over in order; say "live" whenever all of it is handed over."""
        reader = self._reader
        assert reader is not None and self._on_item is not None
        on_item, board = self._on_item, self._board
        saved_at = time.monotonic()
        while not self._closed:
            now = datetime.now(UTC)
            for seq, subject, data, ts, _ in await reader.take(500, 0.5):
                received_at = timestamp(ts)
                try:
                    event = decode(subject, data, received_at)
                except InvalidMessage as err:
                    self._last_seq = seq
                    on_item(Unreadable(seq, subject, str(err)))
                    continue
                entry = LogEntry(seq, subject, received_at, event)
                board.fold(entry, now)
                self._last_seq = seq
                on_item(entry)
            if reader.caught_up and self._state != "live":
                self._set_state("live")
            if time.monotonic() - saved_at > SNAPSHOT_EVERY_S:
                saved_at = time.monotonic()
                await self.save_snapshot()

    # -- writing and reading single messages ----------------------------------

    async def append(self, event: AlertEvent, *, expected_last_seq: int) -> int:
        assert self._publisher is not None
        subject, data = encode_checked(self.tenant, event, datetime.now(UTC))
        headers = {
            Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value: str(expected_last_seq),
            # the alert's life spans one subject per officer: the check covers them all
            EXPECTED_LAST_SUBJECT: subjects.alert_life(self.tenant, event.alert_id),
        }
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
        assert raw.seq is not None
        received = raw.time or datetime.now(UTC)
        where = raw.subject or subject  # a wildcard names the subject it found
        try:  # a drone may publish anything there: an unreadable last message tells nothing
            return LogEntry(raw.seq, where, received, decode(where, raw.data or b"", received))
        except InvalidMessage:
            return None

    async def last_on_alert(self, alert_id: str) -> LogEntry | None:
        return await self._last_on(subjects.ALERTS.name, subjects.alert_life(self.tenant, alert_id))

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
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self.save_snapshot()
            await self._reader.stop()
        if self._verdicts is not None:
            await self._verdicts.stop()
        if self._publisher is not None:
            await self._publisher.close()
        with contextlib.suppress(*_UNAVAILABLE):
            await self._nc.close()
