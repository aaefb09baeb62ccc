"""``prestacop nypd``: replaying NYPD's parking-ticket history into the log.

Runs on the core install only (NATS client, msgspec, typer, rich).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import typer

from prestacop.cli.common import TenantOption, err_console, fail, out, run, settings, urls

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
    rejects: Path = typer.Option(
        Path("nypd-rejects.csv"), "--rejects", help="CSV of rows not sent (line, reason, raw)."
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
        None, "--state-dir", help="Where checkpoints live (default $PRESTACOP_HOME/nypd-replay)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    atomic: bool = typer.Option(
        True, "--atomic/--per-message-acks", help="Atomic batches (one ack per 1000 events)."
    ),
    ignore_unknown_columns: bool = typer.Option(
        False, "--ignore-unknown-columns", help="Skip columns not understood instead of stopping."
    ),
    parse_process: bool = typer.Option(
        True, "--parse-process/--single-process", help="Parse in a second process (2 cores)."
    ),
) -> None:
    """Replay ticket files into the log, resumably, exactly once in effect."""
    from prestacop.nypd_replay.replay import ReplayOptions
    from prestacop.nypd_replay.run import Replayer
    from prestacop.nypd_replay.ui import ProgressListener, print_summary

    # Outages are reported by the replay itself (paused / resumed), not as log warnings.
    logging.getLogger("prestacop.adapters.nats_connection").setLevel(logging.ERROR)
    cfg = settings(tenant)
    nats_url = None if dry_run else urls(cfg).nats_url
    missing = [f for f in files if f != "-" and not Path(f).is_file()]
    if missing:
        fail(f"no such file: {', '.join(missing)}", 2)
    if low_priority:
        if hasattr(os, "nice"):
            os.nice(10)
        else:
            err_console.print("[yellow]--low-priority is not supported on this system[/]")
    opts = ReplayOptions(
        tenant=cfg.tenant,
        state_dir=state_dir or cfg.home / "nypd-replay",
        rejects=rejects,
        max_rate=max_rate,
        dry_run=dry_run,
        strict_columns=not ignore_unknown_columns,
    )
    with ProgressListener(err_console, enabled=progress) as listener:
        result = run(
            Replayer(
                opts, nats_url, listener, window=window, parse_process=parse_process, atomic=atomic
            ).run(files)
        )
    print_summary(out, result)
    if report is not None:
        import msgspec

        report.write_bytes(msgspec.json.format(msgspec.json.encode(result)) + b"\n")
    if not result.ok:
        for f in result.files:
            if f["error"]:
                err_console.print(f"[bold red]error:[/] {f['name']}: {f['error']}")
        raise typer.Exit(1)
