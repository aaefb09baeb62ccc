"""What the parsing side hands the publishing side: one small frame per batch of rows.

Frames cross a pipe between processes (msgpack), so they carry encoded events,
not objects. A batch says where in the file it ends: once all its events are
acknowledged, that position is a safe checkpoint.
"""

from __future__ import annotations

import msgspec


class Position(msgspec.Struct, frozen=True, kw_only=True):
    """A record boundary: byte offset (CSV) or record count (JSON), and lines consumed."""

    offset: int = 0
    line: int = 0
    records: int = 0


class Started(msgspec.Struct, frozen=True, tag="started"):
    layout: str
    ignored_columns: list[str]


class Reject(msgspec.Struct, frozen=True, array_like=True):
    line: int
    reason: str
    detail: str
    raw: str


class Batch(msgspec.Struct, frozen=True, tag="batch"):
    seq: int
    end: Position
    rows: int
    """Records read in this batch (events + rejects)."""
    blank: int
    """Empty lines: not tickets, counted apart."""
    progress: int
    """Bytes of the input on disk read so far."""
    subjects: list[str]
    ids: list[str]
    payloads: list[bytes]
    rejects: list[Reject]


class Failed(msgspec.Struct, frozen=True, tag="failed"):
    message: str


class Finished(msgspec.Struct, frozen=True, tag="finished"):
    pass


Frame = Started | Batch | Failed | Finished
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Frame)


def pack(frame: Frame) -> bytes:
    return _encoder.encode(frame)


def unpack(data: bytes) -> Frame:
    return _decoder.decode(data)
