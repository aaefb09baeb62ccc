"""The projections' stream reader against a real nats-server: bounded, in order, self-healing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from prestacop.adapters.jetstream_reader import StreamReader, stream_head
from prestacop.bootstrap import LogClient
from prestacop.domain.subjects import DRONES
from tests.conftest import wait_until


async def _publish(log: LogClient, tenant: str, n: int) -> list[int]:
    """``n`` messages on one drone's position subject; their stream sequences."""
    subject = f"prestacop.{tenant}.drone.d1.position"
    futures = [await log.publisher.publish(subject, b"%d" % i) for i in range(n)]
    return [ack.seq for ack in await asyncio.gather(*futures)]


async def _read_all(reader: StreamReader, tenant: str, want: int) -> list[int]:
    seqs: list[int] = []

    async def got_all() -> bool:
        for seq, subject, _data, _ts in await reader.take(1000, 0.1):
            if subject.split(".")[1] == tenant:
                seqs.append(seq)
        return len(seqs) >= want

    await wait_until(got_all, timeout=20, what=f"{want} messages of {tenant}")
    return seqs


@contextlib.asynccontextmanager
async def _full_reader(log: LogClient, start: int, buffer: int) -> AsyncIterator[StreamReader]:
    """A reader from ``start`` whose buffer has filled up (nobody took anything yet)."""
    reader = await StreamReader(log.js, DRONES.name, start, buffer=buffer, batch=100).start()
    try:
        await wait_until(lambda: len(reader._buffer) == buffer, what="a full buffer")
        yield reader
    finally:
        await reader.stop()


async def test_the_reader_never_holds_or_requests_more_than_its_buffer_while_nobody_takes(
    log: LogClient, tenant: str
) -> None:
    seqs = await _publish(log, tenant, 3000)
    async with _full_reader(log, seqs[0], 500) as reader:
        await asyncio.sleep(0.3)  # not a synchronisation: time for the server to overfill it
        assert len(reader._buffer) + reader._outstanding <= 500
        assert len(reader._buffer) == 500
        assert await _read_all(reader, tenant, 3000) == seqs


async def test_the_reader_continues_after_its_last_message_when_its_consumer_is_deleted(
    log: LogClient, tenant: str
) -> None:
    first = await _publish(log, tenant, 1000)
    async with _full_reader(log, first[0], 400) as reader:
        await log.js.delete_consumer(DRONES.name, reader._consumer)
        second = await _publish(log, tenant, 1000)
        assert await _read_all(reader, tenant, 2000) == first + second
        assert reader.restarts >= 1


async def test_the_reader_delivers_new_messages_after_waiting_at_the_head(
    log: LogClient, tenant: str
) -> None:
    head = await stream_head(log.js, DRONES.name)
    reader = await StreamReader(log.js, DRONES.name, head.last_seq + 1).start()
    try:
        seqs = await _publish(log, tenant, 50)
        assert await _read_all(reader, tenant, 50) == seqs
    finally:
        await reader.stop()
