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
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

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


def peak_rss_kib() -> int:
    """VmHWM: a spawned process's ``ru_maxrss`` starts at its parent's."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


Child = Callable[..., None]
"""A rebuild in a child: ``child(*args, names, namespace, conn)`` sends (schemas, peak RSS)."""


async def in_processes(
    child: Child,
    args: tuple[str, ...],
    names: Sequence[str] | None = None,
    *,
    namespace: str = "prestacop",
    processes: int = 2,
) -> tuple[list[str], list[int]]:
    """Run ``child`` once per group of built-in views ``names`` (all when None), each in a
    process of its own; returns the new schemas and each process's peak RSS (KiB)."""
    chosen = list(BUILTINS) if names is None else list(names)
    ctx = mp.get_context("spawn")
    running: list[tuple[list[str], Any, Connection]] = []
    for group in groups_of(chosen, processes):
        parent, conn = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=child, args=(*args, group, namespace, conn), daemon=True)
        proc.start()
        conn.close()
        running.append((group, proc, parent))
    schemas: list[str] = []
    rss: list[int] = []
    failed = []
    for group, proc, parent in running:
        await asyncio.to_thread(proc.join)
        if proc.exitcode != 0 or not parent.poll():
            failed.append(f"{','.join(group)} (exit code {proc.exitcode})")
            continue
        got, peak = parent.recv()
        schemas += got
        rss.append(peak)
    if failed:
        raise RuntimeError(f"rebuild failed for {'; '.join(failed)}")
    return schemas, rss
