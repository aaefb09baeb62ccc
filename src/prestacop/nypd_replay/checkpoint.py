"""The durable checkpoint of a replay: where the last fully acknowledged batch ends.

One small JSON file per (tenant, input file), written atomically (write, fsync,
rename) so a crash leaves the old or the new checkpoint, never half of one. The
file is keyed by the input's content, not its path. ``floor_seq`` is a stream
sequence below every event sent after the checkpoint: on resume, the stream is
read from there to learn which of those events were stored before the crash.
"""

from __future__ import annotations

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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(msgspec.json.encode(checkpoint))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
