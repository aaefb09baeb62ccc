"""What ``prestacop nypd replay`` does once its options are parsed, without typer.

Both ways in call it: typer's command (``cli.nypd``) and the lean launcher
(``cli.launch``), which runs a replay without loading typer and pydantic.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prestacop.cli.common import err_console, fail, out, say, serve, settings, urls

if TYPE_CHECKING:
    from prestacop.nypd_replay.run import Report

STOPPED = 130
"""The exit code of a replay stopped by a signal (the same command resumes it)."""


@dataclass(frozen=True)
class ReplayArgs:
    """The command's options, as typer gives them (``cli.nypd`` holds their help)."""

    files: list[str] = field(default_factory=list)
    tenant: str | None = None
    dry_run: bool = False
    rejects: Path | None = None
    report: Path | None = None
    max_rate: float | None = None
    window: int = 4096
    low_priority: bool = False
    state_dir: Path | None = None
    no_progress: bool = False
    per_message_acks: bool = False
    ignore_unknown_columns: bool = False
    single_process: bool = False
    parse_process: bool = False


def replay(args: ReplayArgs) -> int:
    """Replay the files; the exit code (0, or 130 when stopped). Errors end in ``fail``."""
    import asyncio

    from prestacop import bootstrap
    from prestacop.nypd_replay.replay import ReplayOptions
    from prestacop.nypd_replay.ui import ProgressListener, print_summary

    files = args.files
    # Outages are reported by the replay itself (paused / resumed), not as log warnings.
    logging.getLogger("prestacop.adapters.nats_connection").setLevel(logging.ERROR)
    cfg = settings(args.tenant)
    found = None if args.dry_run else urls(cfg)
    missing = [f for f in files if f != "-" and not Path(f).exists()]
    if missing:
        fail(f"no such file: {', '.join(missing)}", 2)
    if odd := [f for f in files if f != "-" and not Path(f).is_file()]:
        fail(f"not a regular file: {', '.join(odd)} (give CSV files, or - for stdin)", 2)
    if args.single_process and args.parse_process:
        fail("--single-process and --parse-process contradict each other: give one", 2)
    if args.low_priority:
        if hasattr(os, "nice"):
            os.nice(10)
        else:
            err_console.print("[yellow]--low-priority is not supported on this system[/]")
    state = args.state_dir or cfg.home / "nypd-replay"
    opts = ReplayOptions(
        tenant=cfg.tenant,
        state_dir=state,
        rejects=args.rejects or state / "rejects.csv",
        max_rate=args.max_rate,
        dry_run=args.dry_run,
        strict_columns=not args.ignore_unknown_columns,
        batch_rows=batch_rows_for(args.max_rate),
    )
    with ProgressListener(err_console, enabled=not args.no_progress) as listener:

        async def go(stop: asyncio.Event) -> Report:
            return await bootstrap.replayer(
                found,
                opts,
                listener,
                window=args.window,
                parse_process=False if args.single_process else args.parse_process or None,
                atomic=not args.per_message_acks,
            ).run(files)

        result = serve(go)
    if result is None:
        say("stopped: the same command resumes where this run stopped")
        return STOPPED
    errors = [_where(str(f["name"]), str(f["error"])) for f in result.files if f["error"]]
    if result.rows_read or not errors:  # no table of zeros before a fatal error
        print_summary(out, result)
    if args.report is not None:
        import msgspec

        args.report.write_bytes(msgspec.json.format(msgspec.json.encode(result)) + b"\n")
    if errors:
        fail("; ".join(errors))
    return 0


def _where(name: str, error: str) -> str:
    """The error, naming its file once."""
    return error if error.startswith((name, Path(name).name)) else f"{name}: {error}"


def batch_rows_for(max_rate: float | None) -> int:
    """Rows per batch: 1000, or under a low ``--max-rate`` a batch every ~1/4 s, so that
    progress moves (and a stop loses) a quarter second, not a minute."""
    return 1000 if not max_rate else max(16, min(1000, int(max_rate / 4)))
