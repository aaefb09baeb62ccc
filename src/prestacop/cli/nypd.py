"""``prestacop nypd``: replaying NYPD's parking-ticket history into the log.

Runs on the core install only (NATS client, msgspec, typer, rich).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from prestacop.cli.common import TenantOption, err_console, fail, out, say, serve, settings, urls

if TYPE_CHECKING:
    from prestacop.nypd_replay.run import Report

app = typer.Typer(
    help="NYPD history: replay past parking tickets as violation events.",
    no_args_is_help=True,
)


@app.command()
def replay(
    files: list[str] = typer.Argument(
        ..., help="Ticket files (CSV or JSON; .gz, .zip; - = stdin)."
    ),
    tenant: str | None = TenantOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Translate and validate; send nothing."),
    rejects: Path | None = typer.Option(
        None,
        "--rejects",
        help="CSV of rows not sent: line, reason, raw (default: rejects.csv in the state dir).",
    ),
    report: Path | None = typer.Option(None, "--report", help="Write the summary as JSON here."),
    max_rate: float | None = typer.Option(
        None, "--max-rate", min=1, help="At most this many rows per second (gentle on links)."
    ),
    window: int = typer.Option(
        4096, "--window", min=16, help="Events in flight without an acknowledgement."
    ),
    low_priority: bool = typer.Option(
        False, "--low-priority", help="Run at low CPU priority (nice 10)."
    ),
    state_dir: Path | None = typer.Option(
        None,
        "--state-dir",
        help="Checkpoints and rejects (default: nypd-replay under $PRESTACOP_HOME).",
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    per_message_acks: bool = typer.Option(
        False, "--per-message-acks", help="One ack per event (default: atomic batches of 1000)."
    ),
    ignore_unknown_columns: bool = typer.Option(
        False, "--ignore-unknown-columns", help="Skip columns not understood instead of stopping."
    ),
    single_process: bool = typer.Option(
        False, "--single-process", help="Parse and send in one process (default: two)."
    ),
) -> None:
    """Replay ticket files into the log, resumably, exactly once in effect."""
    # Plain flags, not --x/--y pairs: their second names made a column that cut option
    # names at 80 columns.
    progress, atomic, parse_process = not no_progress, not per_message_acks, not single_process
    import asyncio

    from prestacop import bootstrap
    from prestacop.nypd_replay.replay import ReplayOptions
    from prestacop.nypd_replay.ui import ProgressListener, print_summary

    # Outages are reported by the replay itself (paused / resumed), not as log warnings.
    logging.getLogger("prestacop.adapters.nats_connection").setLevel(logging.ERROR)
    cfg = settings(tenant)
    found = None if dry_run else urls(cfg)
    missing = [f for f in files if f != "-" and not Path(f).exists()]
    if missing:
        fail(f"no such file: {', '.join(missing)}", 2)
    if odd := [f for f in files if f != "-" and not Path(f).is_file()]:
        fail(f"not a regular file: {', '.join(odd)} (give CSV files, or - for stdin)", 2)
    if low_priority:
        if hasattr(os, "nice"):
            os.nice(10)
        else:
            err_console.print("[yellow]--low-priority is not supported on this system[/]")
    state = state_dir or cfg.home / "nypd-replay"
    opts = ReplayOptions(
        tenant=cfg.tenant,
        state_dir=state,
        rejects=rejects or state / "rejects.csv",
        max_rate=max_rate,
        dry_run=dry_run,
        strict_columns=not ignore_unknown_columns,
        batch_rows=batch_rows_for(max_rate),
    )
    with ProgressListener(err_console, enabled=progress) as listener:

        async def go(stop: asyncio.Event) -> Report:
            return await bootstrap.replayer(
                found, opts, listener, window=window, parse_process=parse_process, atomic=atomic
            ).run(files)

        result = serve(go)
    if result is None:
        say("stopped: the same command resumes where this run stopped")
        raise typer.Exit(130)
    errors = [_where(str(f["name"]), str(f["error"])) for f in result.files if f["error"]]
    if result.rows_read or not errors:  # no table of zeros before a fatal error
        print_summary(out, result)
    if report is not None:
        import msgspec

        report.write_bytes(msgspec.json.format(msgspec.json.encode(result)) + b"\n")
    if errors:
        fail("; ".join(errors))


def _where(name: str, error: str) -> str:
    """The error, naming its file once."""
    return error if error.startswith((name, Path(name).name)) else f"{name}: {error}"


def batch_rows_for(max_rate: float | None) -> int:
    """Rows per batch: 1000, or under a low ``--max-rate`` a batch every ~1/4 s, so that
    progress moves (and a stop loses) a quarter second, not a minute."""
    return 1000 if not max_rate else max(16, min(1000, int(max_rate / 4)))
