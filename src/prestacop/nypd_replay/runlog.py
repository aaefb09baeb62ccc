"""A replay run in the force's history: its summary and every reject, as events.

The reject file stays on NYPD's machine; these events put the same facts where analysts
look (``replay_runs`` and ``replay_rejects`` views). The reject file is read as a stream
(constant memory) after the run. A reject's message id is its source file's content
identity and line, so a resumed or repeated run records each reject once.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from prestacop.domain import codec
from prestacop.domain.events import ReplayRejectRecorded, ReplayRunRecorded
from prestacop.nypd_replay.source import identity

RAW_CHARS = 8_000
"""Of a rejected row's raw text in its event (the reject file keeps it whole; a ticket row
is ~300): even as ``\\uXXXX`` escapes, with its detail, the event fits the log's 64 KiB."""
#: Futures awaited together: bounds memory and keeps the publisher's window full.
WINDOW = 1000


def _identity(name: str) -> str | None:
    try:
        return identity(name)
    except OSError:
        return None


def rejects_of(path: Path, run_id: str, now: datetime) -> Iterator[ReplayRejectRecorded]:
    """The reject file's rows as events (the file's own columns: file, line, reason, ...)."""
    ids: Callable[[str], str | None] = cache(_identity)
    if not path.exists():
        return
    # a rejected line may be megabytes (its raw is cut below): csv's 128 KiB field limit
    # ended the whole replay here, after every ticket was sent
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            name = row["file"]
            source_id = ids(name)
            line = int(row["line"]) if row["line"].isdigit() else 0
            yield ReplayRejectRecorded(
                message_id=f"replay-reject-{source_id or run_id}-{line}",
                run_id=run_id,
                time=now,
                source_file=os.path.basename(name)[-255:] or name[-255:],
                source_id=source_id,
                line=line,
                reason=_text(row["reason"])[:64],
                detail=_text(row["detail"])[:2000],
                raw=_text(row["raw"])[:RAW_CHARS],
            )


def _text(value: str) -> str:
    """No NUL, which the receivers refuse (PostgreSQL text cannot hold it): shown as ``\\x00``."""
    return value.replace("\x00", "\\x00")


async def record_run(
    publisher: Any,
    tenant: str,
    run_id: str,
    started_at: datetime,
    report: Any,
    rejects_path: Path,
) -> int:
    """Publish every reject, then the run's summary; returns the number of events sent."""
    now = datetime.now(UTC)
    sent = 0
    pending: list[asyncio.Future[Any]] = []
    events: Iterator[Any] = rejects_of(rejects_path, run_id, now)
    summary = ReplayRunRecorded(
        message_id=f"replay-run-{run_id}",
        run_id=run_id,
        time=now,
        started_at=started_at,
        files=[str(f.get("name", ""))[-255:] for f in report.files],
        rows_read=report.rows_read,
        events=report.events,
        duplicates=report.duplicates,
        found_in_log=report.found_in_log,
        rejected=report.rejected,
        rejected_by_reason={k[:64]: v for k, v in report.rejected_by_reason.items()},
        ok=report.ok,
    )
    for event in itertools.chain(events, [summary]):
        subject, data = codec.subject_for(tenant, event), codec.encode(event)
        pending.append(
            await publisher.publish(subject, data, msg_id=f"{tenant}:{event.message_id}")
        )
        sent += 1
        if len(pending) >= WINDOW:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    return sent
