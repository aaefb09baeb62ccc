"""The run's rejects become events whatever the rejected rows held: a 5 MB line ended the
whole replay at its very end (csv's 128 KiB field limit), a NUL made the reject an event
that no view could read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prestacop.domain import codec
from prestacop.nypd_replay.frames import Reject
from prestacop.nypd_replay.rejects import RejectFile
from prestacop.nypd_replay.runlog import rejects_of

LOG_MAX_MESSAGE = 64 * 1024  # adapters/topology: what a log stream accepts


def test_a_huge_or_nul_row_is_one_readable_reject_event(tmp_path: Path) -> None:
    path = tmp_path / "rejects.csv"
    rejects = RejectFile(path)
    rejects.add(
        "tickets.csv",
        [
            Reject(16, "wrong_field_count", "44 fields where the header has 43", "A" * 5_000_000),
            Reject(19, "wrong_field_count", "1 fields where the header has 43", "\x00" * 200),
            Reject(20, "bad_csv", "a NUL \x00 in the detail", "1,2"),
            Reject(21, "bad_csv", "\x01" * 5000, "\x01" * 100_000),  # 6 bytes each in JSON
        ],
    )
    rejects.close()
    events = list(rejects_of(path, "run1", datetime.now(UTC)))
    assert [e.line for e in events] == [16, 19, 20, 21]
    assert events[0].raw == "A" * len(events[0].raw) and len(events[0].raw) >= 4_000
    for event in events:
        data = codec.encode(event)
        assert len(data) < LOG_MAX_MESSAGE  # PublishRejected ended the run
        assert codec.decode_event(data) == event  # a view can read it
