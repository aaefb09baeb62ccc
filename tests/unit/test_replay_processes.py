"""How many processes a replay uses: one on a weak client, two where cores are to spare."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from prestacop.nypd_replay import batches, worker
from prestacop.nypd_replay.frames import Batch, Finished, Frame, Position
from prestacop.nypd_replay.run import second_process
from tests.conftest import wait_until


@pytest.mark.parametrize(
    ("wanted", "cpus", "two"),
    [
        (None, 1, False),
        (None, 2, False),  # NYPD's weak client: one process (issue 13: as fast, 25 MB less)
        (None, 3, True),
        (True, 2, True),  # --parse-process
        (True, 1, False),  # one core: a second process only adds its cost
        (False, 8, False),  # --single-process
    ],
)
def test_a_second_process_parses_only_when_asked_or_with_three_cores(
    wanted: bool | None, cpus: int, two: bool
) -> None:
    assert second_process(wanted, cpus) is two


async def test_one_process_parses_ahead_while_the_sender_waits_but_two_batches_at_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pulled: list[int] = []

    def produce(*args: object, **kwargs: object) -> Iterator[Frame]:
        for i in range(6):
            pulled.append(i)
            yield Batch(i, Position(line=i), 1, 0, 0, [], [], [], [])
        yield Finished()

    monkeypatch.setattr(batches, "produce", produce)
    frames = worker.frames_in_process("tickets.csv", "nypd", None, 1)
    got = [await anext(frames)]  # the sender now "waits for acks": the parser goes on
    await wait_until(lambda: len(pulled) >= 3, timeout=5, what="parsing ahead")
    assert pulled == [0, 1, 2]  # one batch queued, one in hand: memory stays bounded
    got += [frame async for frame in frames]
    assert [f.seq for f in got if isinstance(f, Batch)] == list(range(6))  # in order, once
    assert isinstance(got[-1], Finished)
