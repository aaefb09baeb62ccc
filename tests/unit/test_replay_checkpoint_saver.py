"""The checkpoint saver writes off the event loop, says exactly what was true when a
checkpoint was taken, and never hides a failed write."""

from __future__ import annotations

from pathlib import Path

import pytest

from prestacop.nypd_replay import checkpoint as ckpt
from prestacop.nypd_replay.checkpoint import Checkpoint, Counters, Saver
from prestacop.nypd_replay.frames import Position


def _checkpoint(counters: Counters, line: int) -> Checkpoint:
    return Checkpoint(
        identity="f", name="f.csv", tenant="nypd", position=Position(offset=line, line=line),
        floor_seq=line, rejects_path="r.csv", rejects_size=0, counters=counters,
    )  # fmt: skip


async def test_the_latest_checkpoint_is_on_disk_after_flush_as_it_was_when_taken(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state" / "cp.json"
    saver, counters = Saver(), Counters()
    for line in range(1, 6):
        counters.rows_read = line
        saver.save_soon(path, _checkpoint(counters, line))
    counters.rows_read = 99  # mutated after the last checkpoint was taken
    await saver.flush()
    saved = ckpt.load(path)
    assert saved is not None
    assert (saved.position.line, saved.counters.rows_read) == (5, 5)


async def test_a_failed_write_is_raised_not_dropped(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state folder should be")
    saver = Saver()
    saver.save_soon(blocker / "cp.json", _checkpoint(Counters(), 1))
    with pytest.raises(OSError):
        await saver.flush()
