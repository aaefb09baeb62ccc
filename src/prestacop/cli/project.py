"""``prestacop project run|rebuild|status``: the read models in PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from prestacop.cli.common import err_console, fail, out, run, serve, settings, urls

if TYPE_CHECKING:
    from rich.progress import TaskID

    from prestacop.projections.status import BuildStatus
    from prestacop.projections.worker import Worker

app = typer.Typer(
    help="Projections: the log's read models in PostgreSQL (run, rebuild, status).",
    no_args_is_help=True,
)
NamesArgument = typer.Argument(
    None, help="Built-in views (violations drones alerts statistics rejected); default all."
)
NamespaceOption = typer.Option(
    "prestacop", "--namespace", help="Schema of the views (others: staging, tests)."
)
CustomOption = typer.Option(
    [], "--custom", "-c", help="An analyst's projection: module:Class or an entry point name."
)
ForceOption = typer.Option(
    None,
    "--tenant",
    "-t",
    help="Only this force's account (default: every force of this home); the force whose"
    " rights and events --custom projections have (required with --custom).",
)


def _check(names: list[str] | None, custom: list[str], tenant: str | None = "") -> None:
    from prestacop.domain.subjects import SubjectError, check_tenant
    from prestacop.projections.catalog import ProjectionNotFound, select

    try:
        select(names, custom)
        if tenant is None and custom:
            fail("an analyst's projection runs as one force: add --tenant T", 2)
        if tenant:
            check_tenant(tenant)
    except (ProjectionNotFound, SubjectError) as err:
        fail(str(err), 2)


@app.command("run")
def run_(
    names: list[str] | None = NamesArgument,
    custom: list[str] = CustomOption,
    namespace: str = NamespaceOption,
    tenant: str | None = ForceOption,
) -> None:
    """Keep views up to date from the log until Ctrl-C (exactly once, resumes where it was).

    One runner for every force of this home, each read from its own account with that
    force's service credentials (one account on an open server)."""
    from prestacop import bootstrap

    _check(names or None, custom, tenant)
    cfg = settings()
    found = urls(cfg, postgres=True)
    each = bootstrap.forces(cfg, found, tenant)
    out.print(
        f"projecting {', '.join(names or ['all built-in views'])}"
        f"{' + ' + ', '.join(custom) if custom else ''}"
        f" for {', '.join(f for f in bootstrap.accounts(each) if f) or 'its account'};"
        " Ctrl-C to stop"
    )
    added = None if tenant else bootstrap.added_forces(cfg, found)  # tenant add: read too
    serve(
        bootstrap.projections(
            found,
            names or None,
            custom,
            namespace=namespace,
            tenant=tenant,
            forces=each,
            added=added,
        )
    )


@app.command()
def rebuild(
    names: list[str] | None = NamesArgument,
    custom: list[str] = CustomOption,
    namespace: str = NamespaceOption,
    tenant: str | None = ForceOption,
) -> None:
    """Replay the whole log into fresh tables beside the live ones; swap when caught up.

    Built-in views are rebuilt from every force's account; --tenant is for --custom only."""
    from prestacop import bootstrap

    chosen = names or ([] if custom else None)
    _check(chosen, custom, tenant)
    cfg = settings()
    found = urls(cfg, postgres=True)
    each = bootstrap.forces(cfg, found, tenant)
    if tenant and chosen != [] and "" not in bootstrap.accounts(each):
        fail(  # the swapped-in builds would hold that force's rows only
            "a rebuild of built-in views reads every force: leave out --tenant"
            " (it is for --custom projections alone)",
            2,
        )
    with RebuildProgress() as bar:
        schemas = run(
            bootstrap.rebuild(
                found,
                chosen,
                custom,
                namespace=namespace,
                on_progress=bar.update,
                tenant=tenant,
                forces=each,
            )
        )
    for schema in schemas:
        out.print(f"swapped in {schema}")


class RebuildProgress:
    """One bar per view: events replayed against the log's head, rate and time left."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(bar_width=None),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8,.0f}/s"),
            TimeRemainingColumn(),
            console=err_console,
            expand=True,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RebuildProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, workers: list[Worker], heads: dict[str, int]) -> None:
        for w in workers:
            done = sum(min(heads.get(k, 0), w.committed.get(k, 0)) for k in w.keys)
            total = done + w.lag(heads)
            name = w.build.name + (" ✓" if w.swapped.is_set() else "")
            if w.build.name not in self.tasks:
                self.tasks[w.build.name] = self.progress.add_task(name, total=total, rate=0.0)
            self.progress.update(
                self.tasks[w.build.name], description=name, completed=done, total=total, rate=w.rate
            )


@app.command()
def status(
    custom: list[str] = CustomOption,
    namespace: str = NamespaceOption,
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts and monitoring."),
) -> None:
    """Each projection: position, the log's head, lag in events and seconds, events/s, errors."""
    from rich.table import Table

    from prestacop import bootstrap
    from prestacop.projections.catalog import select

    _check([], custom)
    cfg = settings()
    found = urls(cfg, postgres=True)
    projections, _ = select(None, custom)
    streams_of = {p.name: p.streams for p in projections}
    each = bootstrap.forces(cfg, found)
    rows = run(bootstrap.projection_status(found, namespace, streams_of, each))
    if as_json:
        from prestacop.projections.status import as_json as to_json

        print(to_json(rows))
        return
    now = datetime.now(UTC)
    running = {p.name for p in projections}
    if out.width < 140:  # nine columns do not fit: cut to "rejec…", "presta…" at 80
        for r in rows:
            head = f"{r.build.name}: {_state(r, now, running)} · lag {r.lag_events}"
            head += f" ({r.lag_seconds:.1f} s) · {r.events_per_s:,.0f} events/s"
            out.print(head + f" · {r.dead_letters} dead letters", markup=False, highlight=False)
            where = ", ".join(
                f"{_where(k)} {r.positions.get(k, 0)}/{h}" for k, h in r.heads.items()
            )
            out.print(f"  {where} · build {r.build.schema}", markup=False, highlight=False)
            if r.last_error:
                out.print(f"  last error: {r.last_error[:200]}", markup=False, highlight=False)
        runners = rows[0].runners if rows else []
        out.print(f"runner alive: {', '.join(runners)}" if runners else "no runner alive")
        return
    table = Table(
        "projection",
        "build",
        "state",
        "position / head",
        "lag",
        "lag s",
        "events/s",
        "dead letters",
        "last error",
    )
    for r in rows:
        table.add_row(
            r.build.name,
            r.build.schema,
            _state(r, now, running),
            ", ".join(f"{_where(k)} {r.positions.get(k, 0)}/{h}" for k, h in r.heads.items()),
            str(r.lag_events),
            f"{r.lag_seconds:.1f}",
            f"{r.events_per_s:,.0f}",
            str(r.dead_letters),
            (r.last_error or "")[:60],
        )
    out.print(table)
    runners = rows[0].runners if rows else []
    out.print(f"runner alive: {', '.join(runners)}" if runners else "no runner alive")


def _where(key: str) -> str:
    """``lapd/DRONES`` for lapd's PRESTACOP_DRONES (``DRONES``: the one account)."""
    return key.replace("PRESTACOP_", "")


def _state(r: BuildStatus, now: datetime, running: set[str]) -> str:
    """The build's state, and a warning when nothing keeps it current."""
    if r.build.name not in running:
        return f"{r.build.state}, NOT UPDATED (not registered: add it to PRESTACOP_PROJECTIONS)"
    if r.stalled(now):
        return f"{r.build.state}, NOT UPDATED (behind the log; is `project run` running?)"
    return r.build.state
