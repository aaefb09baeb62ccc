"""The reject file: every row that was not sent, with its line, reason and raw text.

Appended batch by batch; its size after each batch goes into the checkpoint, so
a resumed run cuts off what the crashed run wrote after its last checkpoint and
no reject is listed twice.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from prestacop.nypd_replay.frames import Reject

COLUMNS = ("file", "line", "reason", "detail", "raw")


class RejectFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a+b")
        self._file.seek(0, io.SEEK_END)
        if self._file.tell() == 0:
            self._write([COLUMNS])

    def cut(self, size: int) -> None:
        """Forget what was written after ``size`` (a crashed run's rows past its checkpoint)."""
        self._file.flush()
        self._file.truncate(max(size, 0))
        self._file.seek(0, io.SEEK_END)
        if self._file.tell() == 0:
            self._write([COLUMNS])

    def _write(self, rows: Iterable[Sequence[object]]) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        self._file.write(text.getvalue().encode())

    def add(self, name: str, rejects: list[Reject]) -> None:
        if rejects:
            self._write([(name, r.line, r.reason, r.detail, r.raw) for r in rejects])

    def size(self) -> int:
        """Bytes written so far (flushed: the checkpoint may point here)."""
        self._file.flush()
        return self._file.tell()

    def close(self) -> None:
        self._file.close()
