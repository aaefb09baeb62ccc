"""Atomic batch publishing (nats-server 2.12+, ADR-50): one acknowledgement per batch.

Per-message acks cost the client and the server more than the publish itself;
a batch of up to 1000 events committed atomically is acknowledged once, and is
stored whole or not at all, which keeps the replay's accounting simple. The
stream must allow it (``allow_atomic``). A batch holding an id the stream has
seen within its de-duplication window is refused whole (err_code 10201): the
replay then sends that batch message by message, each de-duplicated on its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import Header

from prestacop.adapters.publisher import PubAck, Publisher
from prestacop.domain import subjects as log_subjects
from prestacop.ports.log import DUPLICATE_IN_BATCH

MAX_BATCH = 1000
BATCH_ID, BATCH_SEQUENCE, BATCH_COMMIT = "Nats-Batch-Id", "Nats-Batch-Sequence", "Nats-Batch-Commit"
_SEQUENCE = tuple(str(i) for i in range(1, MAX_BATCH + 1))


class AtomicPublisher:
    """Batches as the unit of the publisher's ack accounting: ``window`` batches in flight.

    Only a batch's commit message carries the reply subject, so its ack (the
    sequence of the batch's last event) or its error settles the whole batch.
    """

    def __init__(self, nc: Client, *, window: int = 4, ack_timeout: float = 10.0) -> None:
        self._nc = nc
        self._acks = Publisher(nc, window=window, ack_timeout=ack_timeout)
        self._run = uuid.uuid4().hex[:16]
        self._next = 0

    async def start(self) -> AtomicPublisher:
        await self._acks.start()
        return self

    async def close(self) -> None:
        await self._acks.close()

    async def publish_batch(
        self, subjects: Sequence[str], payloads: Sequence[bytes], ids: Sequence[str]
    ) -> asyncio.Future[PubAck]:
        """Send one batch (1 to ``MAX_BATCH`` events); the future is its commit's ack."""
        count = len(payloads)
        if not 0 < count <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} events, not {count}")
        reply, fut = await self._acks.reserve()
        self._next += 1
        batch_id = f"{self._run}-{self._next}"
        publish = self._nc.publish
        last = count - 1
        try:
            for i in range(count):
                headers = {BATCH_ID: batch_id, BATCH_SEQUENCE: _SEQUENCE[i], Header.MSG_ID: ids[i]}
                if i == last:
                    headers[BATCH_COMMIT] = "1"
                    await publish(subjects[i], payloads[i], reply=reply, headers=headers)
                else:
                    await publish(subjects[i], payloads[i], headers=headers)
                if i % 64 == 63:
                    await asyncio.sleep(0)  # let acks in
        except Exception as err:
            self._acks.fail(reply, err)
        return fut


async def takes_atomic_batches(js: JetStreamContext) -> bool:
    """Whether the history stream allows atomic batches (nats-server 2.12+)."""
    info: Any = await js.stream_info(log_subjects.HISTORY.name)
    return bool(getattr(info.config, "allow_atomic", False))


__all__ = ["DUPLICATE_IN_BATCH", "MAX_BATCH", "AtomicPublisher", "takes_atomic_batches"]
