"""The log reader against a real nats-server: bounded, in order, self-healing, caught up."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

from nats.js.errors import NotFoundError

from prestacop.adapters.log_reader import LogReader, stream_head
from prestacop.bootstrap import LogClient
from prestacop.domain.subjects import DRONES
from tests.conftest import wait_until


async def _publish(log: LogClient, tenant: str, n: int) -> list[int]:
    """``n`` messages on one drone's position subject; their stream sequences."""
    subject = f"prestacop.{tenant}.drone.d1.position"
    futures = [await log.publisher.publish(subject, b"%d" % i) for i in range(n)]
    return [ack.seq for ack in await asyncio.gather(*futures)]


async def _read_all(reader: LogReader, tenant: str, want: int) -> list[int]:
    seqs: list[int] = []

    async def got_all() -> bool:
        for seq, subject, _data, _ts, _h in await reader.take(1000, 0.1):
            if subject.split(".")[1] == tenant:
                seqs.append(seq)
        return len(seqs) >= want

    await wait_until(got_all, timeout=20, what=f"{want} messages of {tenant}")
    return seqs


@contextlib.asynccontextmanager
async def _full_reader(log: LogClient, start: int, buffer: int) -> AsyncIterator[LogReader]:
    """A reader from ``start`` whose buffer has filled up (nobody took anything yet)."""
    reader = await LogReader(log.nc, DRONES.name, start, buffer=buffer, batch=100).start()
    try:
        await wait_until(lambda: reader.buffered == buffer, what="a full buffer")
        yield reader
    finally:
        await reader.stop()


async def test_the_reader_never_holds_or_requests_more_than_its_buffer_while_nobody_takes(
    log: LogClient, tenant: str
) -> None:
    seqs = await _publish(log, tenant, 3000)
    async with _full_reader(log, seqs[0], 500) as reader:
        await asyncio.sleep(0.3)  # not a synchronisation: time for the server to overfill it
        assert reader.held <= 500
        assert reader.buffered == 500
        assert await _read_all(reader, tenant, 3000) == seqs


async def test_the_reader_continues_after_its_last_message_when_its_consumer_is_deleted(
    log: LogClient, tenant: str
) -> None:
    first = await _publish(log, tenant, 1000)
    async with _full_reader(log, first[0], 400) as reader:
        await log.js.delete_consumer(DRONES.name, reader.consumer)
        second = await _publish(log, tenant, 1000)
        assert await _read_all(reader, tenant, 2000) == first + second
        assert reader.restarts >= 1


async def test_a_stopped_reader_deletes_its_consumer(log: LogClient, tenant: str) -> None:
    """Asked without waiting for the answer (an officer may not delete: it waited 5 s)."""
    seqs = await _publish(log, tenant, 10)
    reader = await LogReader(log.nc, DRONES.name, seqs[0]).start()
    name = reader.consumer
    assert (await log.js.consumer_info(DRONES.name, name)).name == name
    await reader.stop()

    async def gone() -> bool:
        try:
            await log.js.consumer_info(DRONES.name, name)
        except NotFoundError:
            return True
        return False

    await wait_until(gone, what="the stopped reader's consumer deleted")


async def test_the_reader_delivers_new_messages_after_waiting_at_the_head(
    log: LogClient, tenant: str
) -> None:
    head = await stream_head(log.js, DRONES.name)
    reader = await LogReader(log.nc, DRONES.name, head.last_seq + 1).start()
    try:
        seqs = await _publish(log, tenant, 50)
        assert await _read_all(reader, tenant, 50) == seqs
    finally:
        await reader.stop()


async def test_caught_up_means_every_message_the_filter_held_was_handed_over(
    log: LogClient, tenant: str
) -> None:
    seqs = await _publish(log, tenant, 2500)
    reader = LogReader(
        log.nc, DRONES.name, 1, filter_subject=f"prestacop.{tenant}.>", buffer=1000, batch=100
    )
    await reader.start()
    try:
        got: list[int] = []
        while not reader.caught_up:
            got += [r[0] for r in await reader.take(300, 1.0)]
        assert got == seqs
    finally:
        await reader.stop()


def test_no_private_attribute_of_nats_py_is_used_in_src() -> None:
    src = Path(__file__).resolve().parents[2] / "src"
    private = re.compile(r"\b(nc|js|sub|_nc|_js)\._(?!_)[a-z]\w*|\._process_msg\b|\bsub\._id\b")
    found = [
        f"{path.relative_to(src)}:{n}: {line.strip()}"
        for path in src.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert found == []
