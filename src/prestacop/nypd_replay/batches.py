"""The parsing side of the replay: file → records → events → validated bytes, in batches.

A generator of frames with I/O only at its start (opening the file); the same
code runs in the parse process or, for ``--dry-run`` and stdin, in-process.
Each event is checked with the receivers' own rules (``codec.encode_checked``)
so that what is sent is accepted; anything that fails becomes a reject with its
reason, never a crash and never a silent drop.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from operator import itemgetter

from prestacop.domain.codec import InvalidMessage
from prestacop.nypd_replay import source
from prestacop.nypd_replay.checked import encode_checked
from prestacop.nypd_replay.frames import Batch, Failed, Finished, Frame, Position, Reject, Started
from prestacop.nypd_replay.layout import FIELDS, UnknownLayout, detect, record_from_mapping, unwrap
from prestacop.nypd_replay.reading import frame, json_records, read_header, skip_bytes
from prestacop.nypd_replay.source import Opened, SourceError, open_source
from prestacop.nypd_replay.translate import Provenance, Rejected, translate

Clock = Callable[[], datetime]


def dedup_id(tenant: str, message_id: str) -> str:
    """The ``Nats-Msg-Id`` of an event: de-duplication is per stream, not per subject,
    so the id is scoped by tenant (two forces may hold the same summons number)."""
    return f"{tenant}:{message_id}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Builder:
    """Collects one batch: translated events as bytes, and rejects."""

    def __init__(self, tenant: str, now: datetime, provenance: Provenance | None = None) -> None:
        self.tenant, self.now, self.provenance = tenant, now, provenance
        self.subjects: list[str] = []
        self.ids: list[str] = []
        self.payloads: list[bytes] = []
        self.rejects: list[Reject] = []

    def add(self, line: int, record: Sequence[str], raw: str) -> None:
        event = translate(record, self.now, self.provenance, line)
        if isinstance(event, Rejected):
            self.rejects.append(Reject(line, event.reason, event.detail, raw))
            return
        try:
            subject, data = encode_checked(self.tenant, event, self.now)
        except InvalidMessage as err:
            self.rejects.append(Reject(line, err.reason, err.detail, raw))
            return
        self.subjects.append(subject)
        self.ids.append(dedup_id(self.tenant, event.message_id))
        self.payloads.append(data)

    def reject(self, line: int, reason: str, detail: str, raw: str) -> None:
        self.rejects.append(Reject(line, reason, detail, raw))

    def batch(self, seq: int, end: Position, rows: int, blank: int, progress: int) -> Batch:
        return Batch(
            seq, end, rows, blank, progress, self.subjects, self.ids, self.payloads, self.rejects
        )


def produce(
    name: str,
    tenant: str,
    start: Position | None = None,
    *,
    batch_rows: int = 1000,
    strict: bool = True,
    clock: Clock = _utcnow,
    opener: Callable[[str], Opened] = open_source,
) -> Iterator[Frame]:
    """Frames for the file ``name`` from ``start`` (a checkpoint) to its end.

    ``strict``: a column (or JSON key) that is not understood stops the file.
    """
    try:
        src = opener(name)
    except SourceError as err:
        yield Failed(str(err))
        return
    try:
        origin = _provenance(src.name)
        if src.kind == "json":
            yield from _json_frames(
                src, tenant, start or Position(), batch_rows, clock, strict, origin
            )
        else:
            yield from _csv_frames(src, tenant, start, batch_rows, clock, strict, origin)
    except csv.Error as err:  # only the header is read whole: rows are rejected one by one
        yield Failed(f"{src.name}: line 1: not a CSV ticket file ({err})")
    except (UnknownLayout, ValueError, EOFError, OSError) as err:
        yield Failed(f"{src.name}: {err}")
    finally:
        src.close()


def _provenance(name: str) -> Provenance:
    """The file's name and content identity, carried by each event (stdin: ``-``, no id)."""
    try:
        return Provenance(os.path.basename(name)[-255:] or name, source.identity(name))
    except OSError:
        return Provenance(os.path.basename(name)[-255:] or name, None)


def _csv_frames(
    src: Opened,
    tenant: str,
    start: Position | None,
    batch_rows: int,
    clock: Clock,
    strict: bool,
    origin: Provenance | None = None,
) -> Iterator[Frame]:
    text, offset, line = read_header(src.stream)
    if not text.strip():
        raise ValueError("the file is empty (no header line)")
    header = next(csv.reader([text]))
    layout = detect([h.lstrip("\ufeff") for h in header], strict=strict)
    yield Started(layout.name, list(layout.ignored))
    if start is not None and start.offset > offset:
        if src.seekable:
            src.stream.seek(start.offset)
        else:
            skip_bytes(src.stream, start.offset - offset)
        offset, line = start.offset, start.line
    pick = itemgetter(*layout.columns)
    width = layout.width
    records = start.records if start else 0
    for seq, chunk in enumerate(frame(src.stream, offset, line, chunk_records=batch_rows)):
        out = _Builder(tenant, clock(), origin)
        blank = 0
        for line_no, text in zip(chunk.lines, chunk.texts, strict=True):
            raw = text.rstrip("\r\n")
            if '"' in raw or "\r" in raw:  # (a line ends at its only \n)
                try:  # quotes or a stray line break: the csv module's rules
                    row = next(csv.reader([text]))
                except csv.Error as err:
                    out.reject(line_no, "bad_csv", str(err), raw)
                    continue
                except StopIteration:
                    row = []
            else:
                row = raw.split(",")  # a plain line (nearly all): 2-3x cheaper than csv
            if not row or (len(row) == 1 and not row[0].strip()):
                blank += 1
                continue
            if len(row) != width:  # a record a tool quoted whole: unwrap it
                row = unwrap(text, width) or row
            if len(row) != width:
                out.reject(
                    line_no,
                    "wrong_field_count",
                    f"{len(row)} fields where the header has {width}",
                    raw,
                )
                continue
            row.append("")
            out.add(line_no, pick(row), raw)
        records += len(chunk.texts)
        # a plain file: the batch's own end (the reader's position runs a buffer ahead)
        progress = src.progress() if src.progress and not src.seekable else chunk.end_offset
        end = Position(offset=chunk.end_offset, line=chunk.end_line, records=records)
        yield out.batch(seq, end, len(chunk.texts) - blank, blank, progress)
    yield Finished()


def _json_frames(
    src: Opened,
    tenant: str,
    start: Position,
    batch_rows: int,
    clock: Clock,
    strict: bool,
    origin: Provenance | None = None,
) -> Iterator[Frame]:
    yield Started("Open Data API export (JSON)", [])
    chunks = json_records(src.stream, chunk_records=batch_rows, skip=start.records)
    for seq, chunk in enumerate(chunks):
        out = _Builder(tenant, clock(), origin)
        for i, (obj, raw) in enumerate(zip(chunk.records, chunk.raws, strict=True)):
            number = chunk.first + i
            if not isinstance(obj, dict):
                out.reject(number, "not_an_object", "a record must be a JSON object", raw)
                continue
            out.add(number, record_from_mapping(obj, strict=strict), _compact(obj))
        end_number = chunk.first + len(chunk.records) - 1
        progress = src.progress() if src.progress else 0
        end = Position(offset=0, line=end_number, records=end_number)
        yield out.batch(seq, end, len(chunk.records), 0, progress)
    yield Finished()


def _compact(obj: dict[str, object]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


assert len(FIELDS) > 1  # itemgetter returns a tuple only for several columns
