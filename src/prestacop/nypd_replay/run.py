"""Replaying files end to end: connect, replay each file, sum up (the I/O ends of the chain)."""

from __future__ import annotations

import os
import resource
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from prestacop.nypd_replay.checkpoint import Counters
from prestacop.nypd_replay.rejects import RejectFile
from prestacop.nypd_replay.replay import FileReplay, FileResult, Listener, Quiet, ReplayOptions
from prestacop.nypd_replay.runlog import record_run
from prestacop.nypd_replay.senders import AtomicBatch, DryRun, PerMessage, Sender
from prestacop.nypd_replay.worker import frames_from_process, frames_in_process
from prestacop.ports.log import BatchPublisher, HistoryLog

OpenLog = Callable[[Callable[[str], None], int, float], Awaitable[HistoryLog]]
"""Opens the force's history for a run: ``(on_status, window, ack_timeout)``."""


def usable_cpus() -> int:
    """Cores this process may run on (a parse process is worth its memory on 3 or more)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def second_process(wanted: bool | None, cpus: int) -> bool:
    """Whether a second process parses: as ``wanted``, else (None) with 3 or more cores.
    On two cores one process was as fast here and a second one cost 25 MB of the 40 the
    weak client may use (issue 13, docs/nypd_replay.md); on one it only adds its cost."""
    return cpus >= 2 and (cpus >= 3 if wanted is None else wanted)


def cpu_s() -> dict[str, float]:
    """CPU seconds used by this process and by its finished children (the parser)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "publisher": round(own.ru_utime + own.ru_stime, 2),
        "parser": round(children.ru_utime + children.ru_stime, 2),
    }


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its finished children (the parser)."""
    to_mb = 1 / 1024 if sys.platform != "darwin" else 1 / (1024 * 1024)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * to_mb
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * to_mb
    return {"publisher": round(own, 1), "parser": round(children, 1)}


class Report(Counters, kw_only=True):
    """The end-of-run summary (``--report``), for NYPD's own scripts to check a run:
    the counters summed over every file, and how the run went."""

    tenant: str
    dry_run: bool
    elapsed_s: float = 0.0
    rows_per_s: float = 0.0
    peak_rss_mb: float = 0.0
    peak_rss_mb_by_process: dict[str, float] = msgspec.field(default_factory=dict)
    cpu_s_by_process: dict[str, float] = msgspec.field(default_factory=dict)
    rejects_file: str = ""
    files: list[dict[str, object]] = msgspec.field(default_factory=list)
    ok: bool = True


@dataclass
class Replayer:
    """Replays files one after the other into one tenant's history."""

    opts: ReplayOptions
    listener: Listener = field(default_factory=Quiet)
    open_log: OpenLog | None = None
    """None: no server (a dry run only); ``bootstrap.replayer`` gives the real one."""
    window: int = 4096
    parse_process: bool | None = None
    """Parse in a second process; None: by the cores (``second_process``)."""
    ack_timeout: float = 5.0
    atomic: bool = True
    """Use atomic batches when the stream allows them (one ack per batch)."""
    _closing: bool = False

    async def run(self, names: list[str]) -> Report:
        began = time.perf_counter()
        started_at, run_id = datetime.now(UTC), uuid.uuid4().hex
        sender: Sender = DryRun()
        atomic: BatchPublisher | None = None
        client: HistoryLog | None = None
        if not self.opts.dry_run:
            if self.open_log is None:
                raise ValueError("a replay that is not a dry run needs the log (open_log)")

            def on_status(state: str) -> None:
                if state == "disconnected" and not self._closing:
                    self.listener.status("NATS connection lost: waiting for the server")

            client = await self.open_log(on_status, self.window, self.ack_timeout)
            log = (client, client.publisher, self.opts.tenant, self.listener.status)
            sender = PerMessage(*log)
            if self.atomic:
                window = max(1, self.window // self.opts.batch_rows)
                made = await client.batch_publisher(window, self.ack_timeout)
                if isinstance(made, str):  # never silent: the replay is slower this way
                    self.listener.status(made)
                else:
                    atomic = made
                    sender = AtomicBatch(*log, atomic=atomic)
        results: list[FileResult] = []
        rejects = RejectFile(self.opts.rejects)
        try:
            for i, name in enumerate(names):
                in_process = (
                    self.opts.dry_run
                    or name == "-"
                    or not second_process(self.parse_process, usable_cpus())
                )
                frames = frames_in_process if in_process else frames_from_process
                replay = FileReplay(
                    name, self.opts, frames, sender, rejects, self.listener, first=i == 0
                )
                results.append(await replay.run())
                if results[-1].error:
                    break
            if client is not None:  # the run's summary and rejects, in the force's history
                rejects.size()  # flushed
                report = self._report(results, time.perf_counter() - began)
                await record_run(
                    client.publisher, self.opts.tenant, run_id, started_at, report, rejects.path
                )
        finally:
            rejects.close()
            self._closing = True
            if atomic is not None:
                await atomic.close()
            if client is not None:
                await client.close()
        return self._report(results, time.perf_counter() - began)

    def _report(self, results: list[FileResult], elapsed: float) -> Report:
        total = Counters()
        for r in results:
            c = r.counters
            total.rows_read += c.rows_read
            total.events += c.events
            total.duplicates += c.duplicates
            total.found_in_log += c.found_in_log
            total.rejected += c.rejected
            total.blank_lines += c.blank_lines
            for reason, n in c.rejected_by_reason.items():
                total.rejected_by_reason[reason] = total.rejected_by_reason.get(reason, 0) + n
        total.rejected_by_reason = dict(sorted(total.rejected_by_reason.items()))
        rss = peak_rss_mb()
        return Report(
            **msgspec.structs.asdict(total),
            tenant=self.opts.tenant,
            dry_run=self.opts.dry_run,
            elapsed_s=round(elapsed, 3),
            rows_per_s=round(total.rows_read / elapsed, 1) if elapsed else 0.0,
            peak_rss_mb=max(rss.values()),
            peak_rss_mb_by_process=rss,
            cpu_s_by_process=cpu_s(),
            rejects_file=str(self.opts.rejects),
            files=[
                {
                    "name": r.name,
                    "layout": r.layout,
                    "resumed": r.resumed,
                    "already_done": r.already_done,
                    "error": r.error,
                    **msgspec.structs.asdict(r.counters),
                }
                for r in results
            ],
            ok=all(r.error is None for r in results),
        )
