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

from nats.aio.client import Client, ServerVersion
from nats.js import JetStreamContext
from nats.js.api import Header

from prestacop.adapters.publisher import PubAck, Publisher
from prestacop.domain import subjects as log_subjects
from prestacop.ports.log import DUPLICATE_IN_BATCH

MAX_BATCH = 1000
BATCH_ID, BATCH_SEQUENCE, BATCH_COMMIT = "Nats-Batch-Id", "Nats-Batch-Sequence", "Nats-Batch-Commit"
_BREAKS = frozenset(map(ord, "\r\n"))


class Plain(str):
    """A header value with no line break and no surrounding blank (``plain`` makes them).

    nats-py trims each header value and replaces its line breaks (``strip``, then
    ``translate``): for such a value both give it back as it is, but ``str.translate``
    costs ~0.1 µs per distinct character, a sixth of what publishing a replayed event
    cost (callgrind: 71k → 59k instructions a message, issue 13). So these two answer at
    once when they change nothing; anything else is ``str``'s own.
    """

    __slots__ = ()

    def strip(self, chars: str | None = None, /) -> str:
        return self if chars is None else str.strip(self, chars)

    def translate(self, table: Any, /) -> str:
        if isinstance(table, dict) and table.keys() <= _BREAKS:
            return self  # it maps only line breaks, and there is none
        return str.translate(self, table)


def plain(value: str) -> str:
    """``value`` as a ``Plain`` when it is one (printable, not padded), else as it is."""
    if value.isprintable() and value.strip() == value:
        return Plain(value)
    return value


_SEQUENCE = tuple(Plain(str(i)) for i in range(1, MAX_BATCH + 1))
_COMMIT = Plain("1")
#: The first nats-server with atomic batches.
ATOMIC_SERVER = (2, 12, 0)


def no_atomic_batches(version: ServerVersion, stream_allows: bool) -> str | None:
    """None when the replay can send atomic batches, else the one line that says why it
    sends message by message instead (same result, more acknowledgements: slower)."""
    try:
        found: tuple[int, int, int] | None = (version.major, version.minor, version.patch)
    except ValueError:  # not a semantic version: ask the stream only
        found = None
    if found is not None and found < ATOMIC_SERVER:
        return (
            f"nats-server {'.'.join(map(str, found))} has no atomic batches (they need"
            f" {'.'.join(map(str, ATOMIC_SERVER))}): sending with one ack per message, slower"
        )
    if not stream_allows:
        return (
            "the history stream does not allow atomic batches (allow_atomic is off):"
            " sending with one ack per message, slower"
        )
    return None


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
        batch_id = Plain(f"{self._run}-{self._next}")
        publish = self._nc.publish
        last = count - 1
        try:
            for i in range(count):
                headers = {
                    BATCH_ID: batch_id,
                    BATCH_SEQUENCE: _SEQUENCE[i],
                    Header.MSG_ID: plain(ids[i]),
                }
                if i == last:
                    headers[BATCH_COMMIT] = _COMMIT
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
