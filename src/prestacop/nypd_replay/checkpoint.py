"""The durable checkpoint of a replay: where the last fully acknowledged batch ends.

One small JSON file per (tenant, input file), written atomically (write, fsync,
rename) so a crash leaves the old or the new checkpoint, never half of one. The
file is keyed by the input's content, not its path. ``floor_seq`` is a stream
sequence below every event sent after the checkpoint: on resume, the stream is
read from there to learn which of those events were stored before the crash.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path

import msgspec

from prestacop.nypd_replay.frames import Position


class Counters(msgspec.Struct, kw_only=True):
    """What a run did to one file; carried across resumes so the summary covers the file."""

    rows_read: int = 0
    events: int = 0
    """Events acknowledged by the log as newly stored."""
    duplicates: int = 0
    """Events the log acknowledged as duplicates (same id within its de-duplication window)."""
    found_in_log: int = 0
    """Events not sent because the log held them (read back after a crash or an outage)."""
    rejected: int = 0
    rejected_by_reason: dict[str, int] = msgspec.field(default_factory=dict)
    blank_lines: int = 0


class Checkpoint(msgspec.Struct, kw_only=True):
    identity: str
    name: str
    tenant: str
    position: Position
    floor_seq: int
    rejects_path: str
    rejects_size: int
    counters: Counters
    layout: str = ""
    done: bool = False
    updated_at: datetime | None = None
    log_identity: str = ""
    """The log this checkpoint describes (``manifest.log_identity``); "" before it was kept."""


_decoder = msgspec.json.Decoder(Checkpoint)


def path_for(state_dir: Path, tenant: str, identity: str) -> Path:
    return state_dir / f"{tenant}-{identity}.json"


def load(path: Path) -> Checkpoint | None:
    try:
        return _decoder.decode(path.read_bytes())
    except FileNotFoundError:
        return None
    except msgspec.DecodeError as err:
        raise ValueError(
            f"checkpoint {path} is unreadable ({err}); move it away to restart"
        ) from None


def save(path: Path, checkpoint: Checkpoint) -> None:
    """Replace the checkpoint atomically and durably."""
    write(path, msgspec.json.encode(checkpoint))


def write(path: Path, data: bytes) -> None:
    """Replace the file ``path`` by ``data`` atomically and durably (write, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Saver:
    """Saves checkpoints in a worker thread, the latest one first (older ones are skipped).

    The two fsyncs of a save held the event loop ~20 ms each time: a fifth of the
    wall time of a 100k-row replay (issue 13). A checkpoint is encoded when it is
    taken, so a later write still says exactly what was true then; a crash before
    the write leaves the previous checkpoint, which is as safe (a lower floor).
    """

    def __init__(self) -> None:
        self._latest: tuple[Path, bytes] | None = None
        self._task: asyncio.Task[None] | None = None

    def save_soon(self, path: Path, checkpoint: Checkpoint) -> None:
        if self._task is not None and self._task.done():
            self._task.result()  # a failed write (disk full, no rights) ends the run here
        self._latest = (path, msgspec.json.encode(checkpoint))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())

    async def flush(self) -> None:
        """Wait until the latest checkpoint taken is on disk (and raise if it cannot be)."""
        if self._task is not None:
            await self._task

    async def _drain(self) -> None:
        while self._latest is not None:
            (path, data), self._latest = self._latest, None
            await asyncio.to_thread(write, path, data)
