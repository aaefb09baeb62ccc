"""``prestacop export`` (Parquet) and ``prestacop stats`` (terminal charts): for analysts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from prestacop.cli.common import fail, out, run, settings, urls

if TYPE_CHECKING:
    from rich.progress import TaskID

NamespaceOption = typer.Option(
    "prestacop", "--namespace", help="Schema of the views (others: staging, tests)."
)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("stats")(stats)


def export(
    what: list[str] = typer.Argument(
        ..., help="`log` (incremental) and/or view names (violations, statistics_cube, ...)."
    ),
    to: Path = typer.Option(Path("prestacop-export"), "--out", "-o", help="Directory."),
    namespace: str = NamespaceOption,
) -> None:
    """Write the log or views to Parquet, partitioned by force and local day.

    Incremental: the log appends what is new since the last export; a view rewrites only
    the partitions whose rows changed. Read with DuckDB, pandas or polars: see
    docs/analysis.md.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from prestacop.analysis.export import ExportError
    from prestacop.bootstrap import export_view

    found = urls(settings(), postgres=any(w != "log" for w in what))
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=out) as bar:
        for item in what:
            task = bar.add_task(item, total=None)

            def progress(done: int, total: int, task: TaskID = task) -> None:
                bar.update(task, completed=done, total=total)

            try:
                if item == "log":
                    result = run(_export_log(found.nats_url, to, progress))
                else:
                    result = export_view(
                        found.database_url or "", item, to, namespace=namespace,
                        on_progress=progress,
                    )  # fmt: skip
            except ExportError as err:
                fail(f"export {item}: {err}")
            bar.update(task, completed=result.messages, total=max(result.messages, 1))
            skipped = sum(result.skipped_invalid.values())
            out.print(
                f"{item}: {result.messages} rows in {result.files} files under {to / item}"
                + (f" ({skipped} invalid messages left to the quarantine)" if skipped else "")
            )


async def _export_log(nats_url: str, to: Path, progress):
    from prestacop import bootstrap
    from prestacop.analysis.export import export_log

    log = await bootstrap.log_source(nats_url, "prestacop-export")
    try:
        return await export_log(log, to, on_progress=progress)
    finally:
        await log.close()


def stats(
    tenant: str = typer.Option(None, "--tenant", "-t", help="Force (default: PRESTACOP_TENANT)."),
    namespace: str = NamespaceOption,
    top: int = typer.Option(10, help="How many codes in the top-codes chart."),
) -> None:
    """Charts of the main statistics in the terminal: tickets per local hour, per weekday,
    top codes, the trend by month, by borough (from the statistics views)."""
    from prestacop.analysis.charts import draw_all
    from prestacop.bootstrap import read_figures

    cfg = settings(tenant)
    found = urls(cfg, postgres=True)
    figures = read_figures(found.database_url or "", cfg.tenant, namespace=namespace, top=top)
    if not figures.total:
        fail(f"no statistics for force {cfg.tenant!r} yet (is `prestacop project run` running?)")
    out.print(draw_all(figures), highlight=False, markup=False)
