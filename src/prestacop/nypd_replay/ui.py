"""What the operator sees: a progress bar (rows/s, bytes, rejects, ETA) and a summary."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from prestacop.nypd_replay.checkpoint import Counters
from prestacop.nypd_replay.frames import Position
from prestacop.nypd_replay.run import Report


class ProgressListener:
    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.console = console
        # fits 80 columns: the bar, rows read, events acknowledged, rejects, time left
        self.progress = Progress(
            BarColumn(bar_width=12),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]:,} rows {task.fields[rate]:,.0f}/s"),
            TextColumn("· {task.fields[events]:,} acked"),
            TextColumn("· [red]{task.fields[rejects]:,} rejected[/]"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self.task: TaskID | None = None
        self._rows0 = 0

    def __enter__(self) -> ProgressListener:
        self.progress.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()

    def started(self, name: str, layout: str, total: int | None, resumed: Position | None) -> None:
        where = f" (resuming after line {resumed.line:,})" if resumed else ""
        self.console.print(f"[bold]{name}[/]: {layout}{where}")
        self.task = self.progress.add_task(
            name.rsplit("/", 1)[-1][:30], total=total, rows=0, rate=0.0, rejects=0, events=0
        )
        self._rows0 = -1

    def advanced(self, counters: Counters, progress: int) -> None:
        if self.task is None:
            return
        if self._rows0 < 0:
            self._rows0 = counters.rows_read
        task = self.progress.tasks[-1]
        elapsed = task.elapsed or 0.0
        rate = (counters.rows_read - self._rows0) / elapsed if elapsed > 0 else 0.0
        completed = progress or task.total or None  # None: leave the bar where it is
        self.progress.update(
            self.task,
            completed=completed,
            rows=counters.rows_read,
            rate=rate,
            rejects=counters.rejected,
            events=counters.events + counters.duplicates + counters.found_in_log,
        )

    def status(self, message: str) -> None:
        self.console.print(f"[yellow]{escape(message)}[/]")


def print_summary(console: Console, report: Report) -> None:
    table = Table(
        title=f"NYPD replay into tenant {report.tenant!r}"
        + (" (dry run)" if report.dry_run else "")
    )
    table.add_column("what")
    table.add_column("count", justify="right")
    sent = "would send" if report.dry_run else "sent (new in the log)"
    rows = [
        ("rows read", report.rows_read),
        (sent, report.events),
        ("already in the log", report.duplicates + report.found_in_log),
        ("rejected", report.rejected),
        *((f"  {reason}", n) for reason, n in report.rejected_by_reason.items()),
        ("blank lines", report.blank_lines),
    ]
    for what, n in rows:
        table.add_row(what, f"{n:,}")
    table.add_row("elapsed", f"{report.elapsed_s:,.1f} s ({report.rows_per_s:,.0f} rows/s)")
    table.add_row("peak memory", f"{report.peak_rss_mb:.0f} MB")
    console.print(table)
    if report.rejected:
        console.print(f"rejected rows and their reasons: {report.rejects_file}")
