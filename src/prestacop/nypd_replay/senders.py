"""How a batch reaches the log: as one atomic batch, message by message, or not at all.

Each strategy starts sending a batch (``send``) and later waits until the log
holds all of it (``settle``), resending what an outage lost. Counters move at
settle time, so the counters saved with a checkpoint cover exactly the rows
before its position. ``floor`` is a stream sequence below anything not yet
acknowledged: a resumed run reads the log from there to skip what it holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from prestacop.nypd_replay.checkpoint import Counters
from prestacop.nypd_replay.frames import Batch
from prestacop.nypd_replay.stored import last_sequence, stored_ids
from prestacop.ports.log import (
    DUPLICATE_IN_BATCH,
    BatchPublisher,
    EventPublisher,
    HistoryLog,
    PubAck,
    PublishError,
    PublishRejected,
)


class ReplayError(Exception):
    """The replay of a file cannot go on (unreadable file, unknown layout, log refusal)."""


@dataclass(slots=True)
class Sending:
    """A batch on its way: which of its events were sent, and the futures of their acks."""

    batch: Batch
    floor: int
    rejects_size: int
    indexes: list[int] = field(default_factory=list)
    futures: list[asyncio.Future[PubAck]] = field(default_factory=list)
    found_in_log: int = 0
    """Events not sent: the log held them when the run resumed."""
    repeated: int = 0
    """Events not sent: the same summons earlier in the batch."""

    def done(self) -> bool:
        return all(f.done() for f in self.futures)


class Sender(Protocol):
    dry: bool
    floor: int

    async def prepare(self, resume_floor: int | None) -> None:
        """Before a file: learn the log's position, or (resuming) what it already holds."""

    async def send(self, batch: Batch, rejects_size: int) -> Sending: ...

    async def settle(self, sending: Sending, counters: Counters) -> None: ...


class DryRun:
    """Sends nothing: valid events count as what would be sent."""

    dry = True
    floor = 0

    async def prepare(self, resume_floor: int | None) -> None:
        pass

    async def send(self, batch: Batch, rejects_size: int) -> Sending:
        return Sending(batch, 0, rejects_size)

    async def settle(self, sending: Sending, counters: Counters) -> None:
        counters.events += len(sending.batch.payloads)


class _Pause:
    """Says once that the replay waits for the server, and once that it is back."""

    def __init__(self, status: Callable[[str], None]) -> None:
        self.status, self.paused = status, False

    def __call__(self, why: str) -> None:
        if not self.paused:
            self.paused = True
            self.status(
                f"NATS unreachable or not acknowledging ({why}): replay paused until the server"
                " is back"
            )

    def end(self) -> None:
        if self.paused:
            self.status("NATS is back: replay resumed")


@dataclass
class PerMessage:
    """Each event published on its own and acknowledged on its own (de-duplicated by id)."""

    log: HistoryLog
    publisher: EventPublisher
    tenant: str
    status: Callable[[str], None]
    dry = False
    floor: int = 0
    skip: set[str] = field(default_factory=set)

    async def prepare(self, resume_floor: int | None) -> None:
        if resume_floor is None:
            self.floor, self.skip = await last_sequence(self.log.source), set()
        else:
            self.floor = resume_floor
            self.skip = await stored_ids(self.log.source, self.tenant, resume_floor)

    async def send(self, batch: Batch, rejects_size: int) -> Sending:
        sending = Sending(batch, self.floor, rejects_size)
        publish, skip = self.publisher.publish, self.skip
        for i, msg_id in enumerate(batch.ids):
            if msg_id in skip:
                sending.found_in_log += 1
                continue
            sending.futures.append(await publish(batch.subjects[i], batch.payloads[i], msg_id))
            sending.indexes.append(i)
            if i % 256 == 255:
                await asyncio.sleep(0)  # let acks and the next batch in
        return sending

    async def settle(self, sending: Sending, counters: Counters) -> None:
        counters.found_in_log += sending.found_in_log
        pause = _Pause(self.status)
        await self._settle_each(sending, sending.indexes, list(sending.futures), counters, pause)
        pause.end()

    async def _settle_each(
        self,
        sending: Sending,
        indexes: list[int],
        futures: list[asyncio.Future[PubAck]],
        counters: Counters,
        pause: _Pause,
    ) -> None:
        """Wait for each event's ack; resend what the log lacks until it holds all of them."""
        batch, pending = sending.batch, list(range(len(futures)))
        while True:
            results = await asyncio.gather(*(futures[k] for k in pending), return_exceptions=True)
            retry = []
            for k, result in zip(pending, results, strict=True):
                if isinstance(result, PubAck):
                    self.floor = max(self.floor, result.seq)
                    if result.duplicate:
                        counters.duplicates += 1
                    else:
                        counters.events += 1
                elif isinstance(result, PublishRejected):
                    raise ReplayError(f"the log refused {batch.ids[indexes[k]]}: {result}")
                elif isinstance(result, PublishError | OSError | asyncio.TimeoutError):
                    retry.append(k)
                else:
                    raise result
            if not retry:
                return
            pause(f"{len(retry)} events waiting")
            held = await self._held(sending.floor)
            pending = []
            for k in retry:
                j = indexes[k]
                if batch.ids[j] in held:
                    counters.found_in_log += 1
                    continue
                futures[k] = await self.publisher.publish(
                    batch.subjects[j], batch.payloads[j], batch.ids[j]
                )
                pending.append(k)

    async def _held(self, floor: int) -> set[str]:
        """What the log holds above ``floor``, once connected; empty if it cannot say yet."""
        while not self.log.connected:
            if self.log.closed:
                raise ReplayError("the NATS connection was closed")
            await asyncio.sleep(0.2)
        try:
            return await stored_ids(self.log.source, self.tenant, floor)
        except Exception:  # server still starting: resend all, the log de-duplicates
            await asyncio.sleep(0.5)
            return set()


@dataclass
class AtomicBatch(PerMessage):
    """A batch committed whole with one ack; if the log refuses it, message by message."""

    atomic: BatchPublisher | None = None

    async def send(self, batch: Batch, rejects_size: int) -> Sending:
        sending = Sending(batch, self.floor, rejects_size)
        skip, seen = self.skip, set(batch.ids)
        if not skip and len(seen) == len(batch.ids):  # nearly always: send the batch whole
            if batch.ids:
                sending.indexes = list(range(len(batch.ids)))
                sending.futures.append(await self._publish(batch, sending.indexes))
            return sending
        seen.clear()
        for i, msg_id in enumerate(batch.ids):
            if msg_id in skip:
                sending.found_in_log += 1
            elif msg_id in seen:  # the same summons twice in a batch: one event
                sending.repeated += 1
            else:
                seen.add(msg_id)
                sending.indexes.append(i)
        if sending.indexes:
            sending.futures.append(await self._publish(batch, sending.indexes))
        return sending

    async def _publish(self, batch: Batch, indexes: list[int]) -> asyncio.Future[PubAck]:
        assert self.atomic is not None
        if len(indexes) == len(batch.ids):
            return await self.atomic.publish_batch(batch.subjects, batch.payloads, batch.ids)
        return await self.atomic.publish_batch(
            [batch.subjects[i] for i in indexes],
            [batch.payloads[i] for i in indexes],
            [batch.ids[i] for i in indexes],
        )

    async def settle(self, sending: Sending, counters: Counters) -> None:
        """Wait for the batch's single ack; if refused or lost, send what the log lacks."""
        counters.found_in_log += sending.found_in_log
        counters.duplicates += sending.repeated
        batch, indexes, pause = sending.batch, sending.indexes, _Pause(self.status)
        fut = sending.futures[0] if sending.futures else None
        while fut is not None:
            # The outcome is taken, not raised: a raised error's traceback would tie this
            # frame, and the batch, into a cycle that only a full GC frees (+25 MB measured
            # when every batch is refused as holding duplicates).
            (outcome,) = await asyncio.gather(fut, return_exceptions=True)
            if isinstance(outcome, PubAck):
                self.floor = max(self.floor, outcome.seq)
                counters.events += len(indexes)
                break
            if isinstance(outcome, PublishRejected):
                if outcome.err_code != DUPLICATE_IN_BATCH:
                    raise ReplayError(f"the log refused a batch: {outcome}")
                # some ids are in the dedup window (sent recently, maybe by another run)
                futures = [
                    await self.publisher.publish(batch.subjects[i], batch.payloads[i], batch.ids[i])
                    for i in indexes
                ]
                await self._settle_each(sending, indexes, futures, counters, pause)
                break
            if not isinstance(outcome, PublishError | OSError | asyncio.TimeoutError):
                raise outcome
            pause(str(outcome))
            held = await self._held(sending.floor)
            rest = [i for i in indexes if batch.ids[i] not in held]
            counters.found_in_log += len(indexes) - len(rest)
            indexes = rest
            fut = await self._publish(batch, indexes) if indexes else None
        pause.end()
