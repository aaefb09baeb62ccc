"""Blue/green rebuild: fill fresh builds from the whole log beside the live ones,
then swap each in atomically once it has caught up with the log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from prestacop.ports.projection import ProjectionStore
from prestacop.projections.runner import Logs, Plan, RunnerOptions, run_plan
from prestacop.projections.worker import Worker

Progress = Callable[[list[Worker], dict[str, int]], None]


async def rebuild(
    log: Logs,
    store: ProjectionStore,
    names: Sequence[str] | None,
    custom: Sequence[str] = (),
    *,
    options: RunnerOptions | None = None,
    on_progress: Progress | None = None,
    stop: asyncio.Event | None = None,
    tenant: str | None = None,
) -> list[str]:
    """Rebuild ``names`` (all built-ins when None) and ``custom``; returns the new schemas."""
    plan = Plan.of(names, custom, rebuild=True, tenant=tenant)
    runner = await run_plan(log, store, plan, stop or asyncio.Event(), options, on_progress)
    return [w.build.schema for w in runner.workers if w.swapped.is_set()]
