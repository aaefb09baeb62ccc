"""Atomic batch publishing (nats-server 2.12+, ADR-50): one acknowledgement per batch.

Per-message acks cost the client and the server more than the publish itself;
a batch of up to 1000 events committed atomically is acknowledged once, and is
stored whole or not at all, which keeps the replay's accounting simple. The
stream must allow it (``allow_atomic``); a batch holding an id the stream has
already seen within its de-duplication window is refused whole (err_code 10201):
the replay then asks the log what it holds and sends the rest.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import Header

from prestacop.adapters.publisher import NoStreamError, PublishError, PublishRejected

MAX_BATCH = 1000
DUPLICATE_IN_BATCH = 10201
BATCH_ID, BATCH_SEQUENCE, BATCH_COMMIT = "Nats-Batch-Id", "Nats-Batch-Sequence", "Nats-Batch-Commit"


class BatchAck(msgspec.Struct, frozen=True):
    seq: int
    """Stream sequence of the batch's last event."""
    count: int


class _Error(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _Reply(msgspec.Struct):
    seq: int = 0
    count: int = 0
    error: _Error | None = None


_decoder = msgspec.json.Decoder(_Reply)


class AtomicPublisher:
    """Publishes batches atomically with a bounded number of batches in flight."""

    def __init__(self, nc: Client, *, window: int = 4, ack_timeout: float = 10.0) -> None:
        self._nc = nc
        self._window = asyncio.Semaphore(window)
        self._ack_timeout = ack_timeout
        self._pending: dict[str, tuple[asyncio.Future[BatchAck], float]] = {}
        self._run = uuid.uuid4().hex[:16]
        self._next = 0
        self._inbox = ""
        self._sub: Subscription | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> AtomicPublisher:
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(self._inbox + ".*", cb=self._on_reply)
        self._sweeper = asyncio.create_task(self._sweep())
        return self

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._sub is not None and not self._nc.is_closed:
            await self._sub.unsubscribe()
        for reply in list(self._pending):
            self._settle(reply, PublishError("publisher closed before the ack"))

    async def publish_batch(
        self, subjects: Sequence[str], payloads: Sequence[bytes], ids: Sequence[str]
    ) -> asyncio.Future[BatchAck]:
        """Send one batch (at most ``MAX_BATCH`` events); the future is its commit's ack."""
        count = len(payloads)
        if not 0 < count <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} events, not {count}")
        await self._window.acquire()
        self._next += 1
        batch_id = f"{self._run}-{self._next}"
        reply = f"{self._inbox}.{self._next}"
        fut: asyncio.Future[BatchAck] = asyncio.get_running_loop().create_future()
        self._pending[reply] = (fut, time.monotonic() + self._ack_timeout)
        publish = self._nc.publish
        last = count - 1
        try:
            for i in range(count):
                headers = {BATCH_ID: batch_id, BATCH_SEQUENCE: str(i + 1), Header.MSG_ID: ids[i]}
                if i == last:
                    headers[BATCH_COMMIT] = "1"
                    await publish(subjects[i], payloads[i], reply=reply, headers=headers)
                else:
                    await publish(subjects[i], payloads[i], headers=headers)
                if i % 256 == 255:
                    await asyncio.sleep(0)  # let acks in
        except Exception as err:
            self._settle(reply, PublishError(f"batch not sent: {err}"))
        return fut

    def _settle(self, reply: str, outcome: BatchAck | BaseException) -> None:
        entry = self._pending.pop(reply, None)
        if entry is None:
            return
        self._window.release()
        fut = entry[0]
        if fut.done():
            return
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)

    async def _on_reply(self, msg: Msg) -> None:
        if msg.headers and msg.headers.get("Status") == "503":
            self._settle(msg.subject, NoStreamError("no stream answered (server starting?)"))
            return
        try:
            reply = _decoder.decode(msg.data)
        except msgspec.DecodeError as err:
            self._settle(msg.subject, PublishError(f"unreadable batch ack: {err}"))
            return
        if reply.error is not None:
            e = reply.error
            self._settle(msg.subject, PublishRejected(e.code, e.err_code, e.description))
        else:
            self._settle(msg.subject, BatchAck(reply.seq, reply.count))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self._ack_timeout / 4))
            now = time.monotonic()
            for reply in [r for r, (_, deadline) in self._pending.items() if deadline < now]:
                self._settle(reply, PublishError(f"no batch ack within {self._ack_timeout}s"))
