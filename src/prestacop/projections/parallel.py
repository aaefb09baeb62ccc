"""A rebuild in one process per group of views, so decoding and applying use every core.

The profile of a one-process rebuild (py-spy, in the closing note of issue 13)
shows its event loop saturated: reading (nats-py's parser and ``Msg``, ~40%) and
decoding (~20%) share one GIL with the views' writer threads, which wait for it
(~25% of the loop's samples). Each process here is an ordinary rebuild of its own
views (its own reader, builds and swap), so no build depends on another process.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import resource
from collections.abc import Sequence
from multiprocessing.connection import Connection

from prestacop.projections.catalog import BUILTINS

GROUPS: tuple[tuple[str, ...], ...] = (
    ("violations",),  # the heaviest apply (merges, decisions)
    ("drones", "statistics", "alerts", "rejected"),
)


def groups_of(names: Sequence[str], processes: int) -> list[list[str]]:
    """``names`` split into at most ``processes`` groups, following ``GROUPS``."""
    if processes <= 1:
        return [list(names)]
    out: list[list[str]] = []
    for group in GROUPS:
        chosen = [n for n in group if n in names]
        if chosen:
            out.append(chosen)
    rest = [n for n in names if not any(n in g for g in out)]
    if rest:
        out.append(rest)
    while len(out) > processes:
        out[-2:] = [out[-2] + out[-1]]
    return out


def _peak_rss_kib() -> int:
    """VmHWM: a spawned process's ``ru_maxrss`` starts at its parent's."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(
    nats_url: str, database_url: str, names: list[str], namespace: str, conn: Connection
) -> None:
    from prestacop.projections.rebuild import rebuild_projections

    schemas = asyncio.run(rebuild_projections(nats_url, database_url, names, namespace=namespace))
    conn.send((schemas, _peak_rss_kib()))
    conn.close()


async def rebuild_in_processes(
    nats_url: str,
    database_url: str,
    names: Sequence[str] | None = None,
    *,
    namespace: str = "prestacop",
    processes: int = 2,
) -> tuple[list[str], list[int]]:
    """Rebuild built-in views ``names`` (all when None), one process per group; returns the
    new schemas and each process's peak RSS (KiB)."""
    from prestacop.adapters.postgres_projections import ProjectionStore

    chosen = list(BUILTINS) if names is None else list(names)
    store = ProjectionStore(database_url, namespace)  # once, not raced by the processes
    try:
        await asyncio.to_thread(store.setup)
    finally:
        await asyncio.to_thread(store.close)
    ctx = mp.get_context("spawn")
    running = []
    for group in groups_of(chosen, processes):
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_child, args=(nats_url, database_url, group, namespace, child), daemon=True
        )
        proc.start()
        child.close()
        running.append((group, proc, parent))
    schemas: list[str] = []
    rss: list[int] = []
    failed = []
    for group, proc, conn in running:
        await asyncio.to_thread(proc.join)
        if proc.exitcode != 0 or not conn.poll():
            failed.append(f"{','.join(group)} (exit code {proc.exitcode})")
            continue
        got, peak = conn.recv()
        schemas += got
        rss.append(peak)
    if failed:
        raise RuntimeError(f"rebuild failed for {'; '.join(failed)}")
    return schemas, rss
