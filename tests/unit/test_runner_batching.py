"""The projection worker's batching on a fake view store: whole chunks, exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from prestacop.adapters.postgres_projections import Build
from prestacop.ports.projection import Batch, Envelope, Projection
from prestacop.projections.worker import Worker
from tests.unit.fakes import FakeViewStore

pytestmark = pytest.mark.timeout(30)
NOW = datetime(2026, 11, 27, tzinfo=UTC)


class Seen(Projection):
    name = "seen"
    streams = ("A", "B")

    def apply(self, batch: Batch, cur: Any) -> None:
        for env in batch:
            if env.event == "poison":
                raise ValueError(f"cannot apply {env.stream}/{env.seq}")
            cur.execute("seen", (env.stream, env.seq))


def chunk(stream: str, first: int, last: int, poison: int | None = None) -> list[Envelope]:
    return [
        Envelope(
            stream,
            s,
            f"prestacop.t.drone.d{s}.position",
            "t",
            NOW,
            "poison" if s == poison else "ok",
        )
        for s in range(first, last + 1)
    ]


def worker(store: FakeViewStore, committed: dict[str, int] | None = None) -> Worker:
    build = Build("seen", 1, "x_seen_v1_1", "building", "test")
    return Worker(Seen(), build, store, False, False, dict(committed or {}))  # type: ignore[arg-type]


def test_a_batch_takes_whole_chunks_up_to_the_limit_and_moves_each_stream_once() -> None:
    w = worker(FakeViewStore())
    w.feed("A", 1, 3, chunk("A", 1, 3), NOW)
    w.feed("B", 1, 2, chunk("B", 1, 2), NOW)
    w.feed("A", 4, 6, chunk("A", 4, 6), NOW)
    envs, advance, counts = w.take(max_events=5)
    assert [(e.stream, e.seq) for e in envs] == [("A", 1), ("A", 2), ("A", 3), ("B", 1), ("B", 2)]
    assert {s: (a.expected, a.new) for s, a in advance.items()} == {"A": (0, 3), "B": (0, 2)}
    assert counts == {"A": 3, "B": 2} and w.pending_events == 3
    envs, advance, _ = w.take(max_events=1)  # a chunk larger than the limit goes whole
    assert len(envs) == 3 and advance["A"].new == 6


def test_what_the_build_already_has_is_not_fed_again() -> None:
    w = worker(FakeViewStore(), committed={"A": 4})
    w.feed("A", 1, 3, chunk("A", 1, 3), NOW)  # all below the build's position
    w.feed("A", 3, 6, chunk("A", 3, 6), NOW)  # overlaps it
    envs, advance, _ = w.take(max_events=100)
    assert [e.seq for e in envs] == [5, 6] and (advance["A"].expected, advance["A"].new) == (4, 6)


async def test_the_write_loop_commits_every_chunk_once_and_sets_poison_aside() -> None:
    store = FakeViewStore()
    w = worker(store)
    task = asyncio.create_task(w.write_loop(max_events=4, limit=100))
    w.feed("A", 1, 3, chunk("A", 1, 3), NOW)
    w.feed("B", 1, 3, chunk("B", 1, 3, poison=2), NOW)
    w.feed("A", 4, 5, chunk("A", 4, 5), NOW)
    deadline = asyncio.get_running_loop().time() + 5
    while w.committed != {"A": 5, "B": 3}:
        assert asyncio.get_running_loop().time() < deadline, w.committed
        await asyncio.sleep(0)  # the writer runs in a thread: yield until it committed
    task.cancel()
    assert store.tracking == {"A": 5, "B": 3}
    assert len(store.rows) == 7 and list(store.dead_letters) == [("B", 2)]
    assert (w.applied, w.dead) == (7, 1) and "cannot apply B/2" in (w.last_error or "")
    assert all(len(b) <= 4 or len({e.stream for e in b}) == 1 for b in store.batches)


def test_a_force_that_joins_is_read_from_what_was_committed_there_the_others_untouched() -> None:
    w = worker(FakeViewStore(), {"nypd/A": 5})
    w.keys = ("nypd/A",)
    w.feed("nypd/A", 6, 7, chunk("A", 6, 7), NOW)
    w.join(("lapd/A", "lapd/B", "nypd/A"), {"lapd/A": 2, "lapd/B": 0, "nypd/A": 0})
    assert w.keys == ("nypd/A", "lapd/A", "lapd/B")
    assert w.committed == {"nypd/A": 5, "lapd/A": 2, "lapd/B": 0}  # nypd's kept
    assert w.fed["nypd/A"] == 7
    w.feed("lapd/A", 1, 3, chunk("A", 1, 3), NOW)  # what lapd/A has is skipped
    assert w.lag({"nypd/A": 7, "lapd/A": 3, "lapd/B": 4}) == 2 + 1 + 4
    envs, advance, _ = w.take(max_events=10)
    assert [e.seq for e in envs] == [6, 7, 3]
    assert {k: (a.expected, a.new) for k, a in advance.items()} == {
        "nypd/A": (5, 7),
        "lapd/A": (2, 3),
    }


async def test_reading_pauses_while_the_queued_payload_bytes_exceed_the_backlog() -> None:
    w = worker(FakeViewStore())
    w.feed("A", 1, 3, chunk("A", 1, 3), NOW, size=600)
    await asyncio.wait_for(w.room(1_000), 1)  # below the limit: no wait
    w.feed("A", 4, 6, chunk("A", 4, 6), NOW, size=600)
    assert w.pending_bytes == 1_200
    waiter = asyncio.create_task(w.room(1_000))
    await asyncio.sleep(0)
    assert not waiter.done()  # over the limit in bytes (six events only)
    task = asyncio.create_task(w.write_loop(max_events=100, limit=1_000))
    await asyncio.wait_for(waiter, 5)  # the writer took both chunks: room again
    task.cancel()
    assert w.pending_bytes == 0 and w.pending_events == 0
