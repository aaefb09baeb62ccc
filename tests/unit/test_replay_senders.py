"""Send strategies against fakes: what each one counts, and what a refused batch leaves behind."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from prestacop.adapters.publisher import PubAck, PublishRejected
from prestacop.nypd_replay import checkpoint as ckpt
from prestacop.nypd_replay.checkpoint import Counters
from prestacop.nypd_replay.frames import Batch, Position
from prestacop.nypd_replay.rejects import RejectFile
from prestacop.nypd_replay.replay import FileReplay, ReplayOptions
from prestacop.nypd_replay.senders import AtomicBatch, DryRun, Sending
from prestacop.nypd_replay.worker import frames_in_process
from prestacop.ports.log import DUPLICATE_IN_BATCH


def _batch(ids: list[str]) -> Batch:
    n = len(ids)
    return Batch(0, Position(), n, 0, 0, ["s"] * n, ids, [b"{}"] * n, [])


def _done(value: Any) -> asyncio.Future[Any]:
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    if isinstance(value, BaseException):
        fut.set_exception(value)
    else:
        fut.set_result(value)
    return fut


class _RefusingAtomic:
    def __init__(self) -> None:
        self.sent: list[asyncio.Future[PubAck]] = []

    async def publish_batch(self, subjects: Any, payloads: Any, ids: Any) -> asyncio.Future[Any]:
        self.sent.append(_done(PublishRejected(400, DUPLICATE_IN_BATCH, "duplicate in batch")))
        return self.sent[-1]


class _DuplicateAnswers:
    async def publish(self, subject: str, payload: bytes, msg_id: str) -> asyncio.Future[Any]:
        return _done(PubAck("S", 7, duplicate=True))


async def test_a_dry_run_counts_valid_events_as_what_would_be_sent() -> None:
    dry, counters = DryRun(), Counters()
    await dry.settle(await dry.send(_batch(["a", "b"]), 0), counters)
    assert counters.events == 2 and dry.dry


async def test_a_batch_refused_for_duplicates_is_settled_message_by_message() -> None:
    atomic = _RefusingAtomic()
    sender = AtomicBatch(
        None,  # type: ignore[arg-type]
        _DuplicateAnswers(),
        "nypd",
        lambda _: None,
        atomic=atomic,  # type: ignore[arg-type]
    )
    counters = Counters()
    sending = await sender.send(_batch(["a", "b", "a"]), 0)
    await sender.settle(sending, counters)
    assert (counters.events, counters.duplicates) == (0, 3)  # 2 answered duplicate + 1 repeated
    assert sender.floor == 7
    # The refusal was taken, not raised: a raised error's traceback would tie the settling
    # frame and the whole batch into a cycle only a full GC frees (+25 MB measured at 100k rows).
    refusal = atomic.sent[0].exception()
    assert refusal is not None and refusal.__traceback__ is None


class _LookingSender:
    """Sends nothing; at its first send, reads the checkpoint file the run must have saved."""

    dry = False
    floor = 0

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.seen_at_first_send: list[ckpt.Checkpoint | None] | None = None

    async def prepare(self, resume_floor: int | None) -> None:
        pass

    async def send(self, batch: Batch, rejects_size: int) -> Sending:
        if self.seen_at_first_send is None:
            self.seen_at_first_send = [ckpt.load(p) for p in self.state_dir.glob("*.json")]
        return Sending(batch, 0, rejects_size)

    async def settle(self, sending: Sending, counters: Counters) -> None:
        counters.events += len(sending.batch.payloads)


async def test_the_first_checkpoint_is_on_disk_before_the_first_batch_is_sent(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its fsyncs overlap the first batch's parsing, never its sending: a crash just after
    the first send resumes from the log's position before it. The disk is made slow."""
    write = ckpt.write

    def slow_disk(path: Path, data: bytes) -> None:
        time.sleep(0.5)  # a slow fsync, in the saver's thread (not a synchronisation)
        write(path, data)

    monkeypatch.setattr(ckpt, "write", slow_disk)
    state = tmp_path / "state"
    opts = ReplayOptions(tenant="nypd", state_dir=state, rejects=tmp_path / "rejects.csv")
    sender = _LookingSender(state)
    sample = str(shared_data / "nypd" / "fy2022_trunc_jernejvivod.csv")
    replay = FileReplay(sample, opts, frames_in_process, sender, RejectFile(opts.rejects))
    result = await replay.run()
    assert result.error is None and result.counters.events > 0
    assert sender.seen_at_first_send is not None
    (first,) = sender.seen_at_first_send
    assert first is not None and first.position.records == 0 and not first.done
