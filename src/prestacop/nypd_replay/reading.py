"""Bytes → records, in bounded chunks, with the line number and byte offset of each.

CSV records are framed by whole lines; a line ends a record unless it ends inside
a quoted field (real rows hold quoted commas and, rarely, quoted line breaks).
The framing keeps the exact byte offset after each chunk: that offset is what a
checkpoint stores, so a resumed run starts on a record boundary.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

#: A quoted field longer than this many lines is taken for a stray quote.
MAX_RECORD_LINES = 20
QUOTE, COMMA = 34, 44


@dataclass(slots=True)
class Chunk:
    """Consecutive records and where they end in the file."""

    texts: list[str]
    lines: list[int]
    """Line number (1-based, header = 1) where each record starts."""
    end_offset: int
    """Byte offset after the last record (decompressed bytes)."""
    end_line: int
    """Number of lines consumed so far."""


def decode(raw: bytes) -> str:
    """UTF-8, else Windows-1252 (files saved by spreadsheets)."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def ends_in_quote(line: bytes, in_quote: bool) -> bool:
    """Whether a CSV line ends inside a quoted field (a quote opens one only at a field's start)."""
    field_start = True
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if in_quote:
            if c == QUOTE:
                if i + 1 < n and line[i + 1] == QUOTE:
                    i += 2
                    continue
                in_quote = False
        elif c == QUOTE and field_start:
            in_quote = True
        field_start = c == COMMA and not in_quote
        i += 1
    return in_quote


def frame(
    stream: BinaryIO, offset: int, line: int, *, chunk_records: int, chunk_bytes: int = 1 << 18
) -> Iterator[Chunk]:
    """Complete CSV records from ``stream`` (positioned at ``offset``, after ``line`` lines)."""
    texts: list[str] = []
    starts: list[int] = []
    pending: list[bytes] = []
    while True:
        block = stream.readlines(chunk_bytes)
        if not block:
            break
        for raw in block:
            line += 1
            if pending or raw.count(b'"') & 1:
                pending.append(raw)
                in_quote = False
                for part in pending:
                    in_quote = ends_in_quote(part, in_quote)
                if in_quote and len(pending) < MAX_RECORD_LINES:
                    continue
                if in_quote:  # a stray quote: give each line its own chance
                    for i, part in enumerate(pending):
                        texts.append(decode(part))
                        starts.append(line - len(pending) + 1 + i)
                else:
                    texts.append(decode(b"".join(pending)))
                    starts.append(line - len(pending) + 1)
                offset += sum(len(p) for p in pending)
                pending = []
            else:
                texts.append(decode(raw))
                starts.append(line)
                offset += len(raw)
            if len(texts) >= chunk_records:
                yield Chunk(texts, starts, offset, line)
                texts, starts = [], []
    if pending:  # unterminated quote at the end of the file
        for i, part in enumerate(pending):
            texts.append(decode(part))
            starts.append(line - len(pending) + 1 + i)
        offset += sum(len(p) for p in pending)
    if texts:
        yield Chunk(texts, starts, offset, line)


def read_header(stream: BinaryIO) -> tuple[str, int, int]:
    """The header record (text, bytes it took, lines it took), read line by line."""
    parts: list[bytes] = []
    in_quote = False
    while len(parts) < MAX_RECORD_LINES:
        raw = stream.readline()
        if not raw:
            break
        parts.append(raw)
        in_quote = ends_in_quote(raw, in_quote)
        if not in_quote:
            break
    data = b"".join(parts)
    return decode(data), len(data), len(parts)


def skip_bytes(stream: BinaryIO, count: int) -> None:
    """Read past ``count`` bytes of a stream that cannot seek (compressed, stdin)."""
    while count > 0:
        got = stream.read(min(count, 1 << 20))
        if not got:
            raise EOFError("the file is shorter than its checkpoint: was it changed?")
        count -= len(got)


@dataclass(slots=True)
class JsonChunk:
    records: list[object]
    raws: list[str]
    first: int
    """1-based number of the first record."""


def json_records(stream: BinaryIO, *, chunk_records: int, skip: int = 0) -> Iterator[JsonChunk]:
    """Objects of a JSON array (the Open Data API export) or of JSON lines, a few at a time."""
    decoder = json.JSONDecoder()
    buf, pos, eof, number = "", 0, False, 0
    records: list[object] = []
    raws: list[str] = []
    reader = _text_chunks(stream)
    while True:
        while pos < len(buf) and buf[pos] in " \t\r\n,[\ufeff":
            pos += 1
        if pos < len(buf) and buf[pos] == "]":
            break
        try:
            obj, end = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError as err:
            if eof:
                if pos >= len(buf):
                    break
                raise ValueError(f"record {number + 1}: not JSON ({err.msg})") from None
            chunk = next(reader, None)
            if chunk is None:
                eof = True
            else:
                buf, pos = buf[pos:] + chunk, 0
            continue
        number += 1
        if number > skip:
            records.append(obj)
            raws.append(buf[pos:end])
            if len(records) >= chunk_records:
                yield JsonChunk(records, raws, number - len(records) + 1)
                records, raws = [], []
        pos = end
    if records:
        yield JsonChunk(records, raws, number - len(records) + 1)


def _text_chunks(stream: BinaryIO, size: int = 1 << 16) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        data = stream.read(size)
        if not data:
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
            return
        yield decoder.decode(data)
