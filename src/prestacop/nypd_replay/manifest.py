"""Replay checkpoints bound to the log they describe, and kept in it.

A checkpoint file alone is not tied to a log: a file replayed into server A and
then into a fresh server B was skipped as "done" there; and a lost state
directory after the de-duplication window sent every ticket a second time. So:

- each checkpoint records the log it describes (``log_identity``: the history
  stream's creation time and the server or cluster name) and is used only with
  that log, and only if the log reaches its ``floor_seq``;
- a copy of it is kept in the log itself (key-value bucket ``PRESTACOP_REPLAY``,
  one key per tenant and file content): a run without a usable local checkpoint
  resumes from that copy (reading back, as any resume, what was stored after its
  floor), and a fresh log has none, so a file replayed into it is sent in full.

The bucket holds one small record per file: memory and time stay constant,
unlike reading every message id the tenant's history holds.
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec

from prestacop.domain import subjects
from prestacop.nypd_replay.checkpoint import Checkpoint
from prestacop.ports.log import HistoryLog, RecordBucket

BUCKET = "PRESTACOP_REPLAY"
_decoder = msgspec.json.Decoder(Checkpoint)


class Manifest:
    """The copy of one file's checkpoint in the log (written behind the local one)."""

    def __init__(self, log: HistoryLog, tenant: str, identity: str) -> None:
        self._log = log
        self.key = f"{tenant}.{identity}"
        self.identity = ""
        self._kv: RecordBucket | None = None
        self._latest: bytes | None = None
        self._writer: asyncio.Task[None] | None = None

    async def open(self) -> Manifest:
        self.identity = await self._log.identity()
        self._kv = await self._log.bucket(
            BUCKET, "NYPD replay: each file's checkpoint, in the log it describes."
        )
        return self

    async def choose(self, local: Checkpoint | None) -> tuple[Checkpoint | None, str | None]:
        """The checkpoint to resume from, and why the local one was set aside (if it was)."""
        head = (await self._log.source.head(subjects.HISTORY.name)).last_seq
        why = None
        if local is not None:
            if local.log_identity in ("", self.identity) and local.floor_seq <= head:
                return local, None  # "" : written before checkpoints named their log
            why = (
                f"the checkpoint describes another log ({local.log_identity or 'unknown'},"
                f" floor {local.floor_seq}), not this one ({self.identity}, head {head})"
            )
        stored = await self._load()
        if stored is not None and stored.log_identity == self.identity and stored.floor_seq <= head:
            return stored, why
        return None, why

    async def _load(self) -> Checkpoint | None:
        assert self._kv is not None
        value = await self._kv.get(self.key)
        if value is None:
            return None
        try:
            return _decoder.decode(value)
        except msgspec.DecodeError:
            return None

    def save_soon(self, checkpoint: Checkpoint) -> None:
        """Write the latest checkpoint to the log in the background (coalesced)."""
        self._latest = msgspec.json.encode(checkpoint)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        assert self._kv is not None
        while self._latest is not None:
            data, self._latest = self._latest, None
            with contextlib.suppress(Exception):  # the local file is the primary; next save retries
                await self._kv.put(self.key, data)

    async def flush(self) -> None:
        if self._writer is not None:
            await self._writer
