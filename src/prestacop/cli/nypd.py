"""``prestacop nypd``: replaying NYPD's parking-ticket history into the log.

Runs on the core install only (NATS client, msgspec, typer, rich). The options are
declared here for typer (help, errors); ``cli.nypd_run`` does the work, and
``cli.launch`` runs it without typer when the command line is plain.
"""

from __future__ import annotations

from pathlib import Path

import typer

from prestacop.cli.common import TenantOption
from prestacop.cli.nypd_run import ReplayArgs, batch_rows_for
from prestacop.cli.nypd_run import replay as run_replay

__all__ = ["app", "batch_rows_for"]

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
        ReplayArgs.window, "--window", min=16, help="Events in flight without an acknowledgement."
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
        False, "--single-process", help="Parse and send in one process (default on 1-2 cores)."
    ),
    parse_process: bool = typer.Option(
        False, "--parse-process", help="Parse in a second process (default on 3+ cores)."
    ),
) -> None:
    """Replay ticket files into the log, resumably, exactly once in effect."""
    # Plain flags, not --x/--y pairs: their second names made a column that cut option
    # names at 80 columns.
    args = ReplayArgs(
        files=files, tenant=tenant, dry_run=dry_run, rejects=rejects, report=report,
        max_rate=max_rate, window=window, low_priority=low_priority, state_dir=state_dir,
        no_progress=no_progress, per_message_acks=per_message_acks,
        ignore_unknown_columns=ignore_unknown_columns, single_process=single_process,
        parse_process=parse_process,
    )  # fmt: skip
    if code := run_replay(args):
        raise typer.Exit(code)
