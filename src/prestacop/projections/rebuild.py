"""Blue/green rebuild: fill fresh builds from the whole log beside the live ones,
then swap each in atomically once it has caught up with the log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.projections.catalog import select
from prestacop.projections.runner import Plan, Runner, RunnerOptions
from prestacop.projections.worker import Worker

Progress = Callable[[list[Worker], dict[str, int]], None]


async def rebuild_projections(
    nats_url: str,
    database_url: str,
    names: Sequence[str] | None,
    custom: Sequence[str] = (),
    *,
    namespace: str = "prestacop",
    options: RunnerOptions | None = None,
    on_progress: Progress | None = None,
    stop: asyncio.Event | None = None,
    tenant: str | None = None,
) -> list[str]:
    """Rebuild ``names`` (all built-ins when None) and ``custom``; returns the new schemas."""
    from prestacop.adapters.nats_connection import connect

    projections, sources = select(names, custom)
    nc = await connect(nats_url, "prestacop-rebuild")
    store = ProjectionStore(database_url, namespace)
    tenants = dict.fromkeys(sources, tenant) if tenant else {}
    plan = Plan(projections, sources, rebuild=True, tenants=tenants)
    runner = Runner(nc, store, plan, options, on_progress)
    try:
        await runner.run(stop or asyncio.Event())
        return [w.build.schema for w in runner.workers if w.swapped.is_set()]
    finally:
        await asyncio.to_thread(store.close)
        await nc.drain()
