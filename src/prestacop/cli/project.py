"""``prestacop project run|rebuild|status``: the read models in PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from prestacop.cli.common import fail, out, run, settings, urls

if TYPE_CHECKING:
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
    help="The force whose rights and events --custom projections have (required with --custom).",
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
    """Keep views up to date from the log until Ctrl-C (exactly once, resumes where it was)."""
    import asyncio

    from prestacop.cli.drones import stop_on_signals
    from prestacop.projections.runner import run_projections

    _check(names or None, custom, tenant)
    found = urls(settings(), postgres=True)

    async def go() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        await run_projections(
            found.nats_url,
            found.database_url or "",
            stop,
            names or None,
            custom,
            namespace=namespace,
            tenant=tenant,
        )

    out.print(
        f"projecting {', '.join(names or ['all built-in views'])}"
        f"{' + ' + ', '.join(custom) if custom else ''}; Ctrl-C to stop"
    )
    run(go())


@app.command()
def rebuild(
    names: list[str] | None = NamesArgument,
    custom: list[str] = CustomOption,
    namespace: str = NamespaceOption,
    tenant: str | None = ForceOption,
) -> None:
    """Replay the whole log into fresh tables beside the live ones; swap when caught up."""
    import time

    from prestacop.projections.rebuild import rebuild_projections

    chosen = names or ([] if custom else None)
    _check(chosen, custom, tenant)
    found = urls(settings(), postgres=True)
    last = [0.0]

    def progress(workers: list[Worker], heads: dict[str, int]) -> None:
        if time.monotonic() - last[0] < 1.0:
            return
        last[0] = time.monotonic()
        out.print(
            "  ".join(
                f"{w.build.name}: {w.applied} events, lag {w.lag(heads)}, {w.rate:,.0f}/s"
                + (" [swapped]" if w.swapped.is_set() else "")
                for w in workers
            ),
            highlight=False,
        )

    schemas = run(
        rebuild_projections(
            found.nats_url,
            found.database_url or "",
            chosen,
            custom,
            namespace=namespace,
            on_progress=progress,
            tenant=tenant,
        )
    )
    for schema in schemas:
        out.print(f"swapped in {schema}")


@app.command()
def status(custom: list[str] = CustomOption, namespace: str = NamespaceOption) -> None:
    """Each projection: position, the log's head, lag in events and seconds, events/s, errors."""
    from rich.table import Table

    from prestacop.adapters.nats_connection import connect
    from prestacop.adapters.postgres_projections import ProjectionStore
    from prestacop.projections.catalog import select
    from prestacop.projections.status import collect

    _check([], custom)
    found = urls(settings(), postgres=True)
    projections, _ = select(None, custom)

    async def go():  # type: ignore[no-untyped-def]
        nc = await connect(found.nats_url, "prestacop-status")
        store = ProjectionStore(found.database_url or "", namespace)
        try:
            return await collect(store, nc.jetstream(), {p.name: p.streams for p in projections})
        finally:
            store.close()
            await nc.drain()

    rows = run(go())
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
            r.build.state,
            ", ".join(
                f"{s.removeprefix('PRESTACOP_')} {r.positions.get(s, 0)}/{h}"
                for s, h in r.heads.items()
            ),
            str(r.lag_events),
            f"{r.lag_seconds:.1f}",
            f"{r.events_per_s:,.0f}",
            str(r.dead_letters),
            (r.last_error or "")[:60],
        )
    out.print(table)
