"""Helpers for the projection tests: publish, run the runner, read views."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.adapters.publisher import PubAck
from prestacop.bootstrap import LogClient, run_projections
from prestacop.domain import codec
from prestacop.domain.events import AnyEvent
from prestacop.projections.runner import RunnerOptions

FROM_SCRATCH_S = 60
"""How long a new build may take to catch up: it reads the module's streams (every earlier
test's events of the module: ``log_account``) from their first message."""


def namespace() -> str:
    """A namespace of views of its own: tests do not share builds."""
    return "pt" + uuid.uuid4().hex[:10]


async def publish(log: LogClient, items: Iterable[tuple[str, bytes, str]]) -> list[PubAck]:
    futures = [await log.publisher.publish(s, d, msg_id=m) for s, d, m in items]
    return list(await asyncio.gather(*futures))


async def publish_events(log: LogClient, tenant: str, events: Sequence[AnyEvent]) -> list[PubAck]:
    return await publish(
        log, [(codec.subject_for(tenant, e), codec.encode(e), e.message_id) for e in events]
    )


@contextlib.asynccontextmanager
async def projecting(
    nats_url: str,
    database_url: str,
    ns: str,
    names: Sequence[str] | None = None,
    custom: Sequence[str] = (),
    options: RunnerOptions | None = None,
) -> AsyncIterator[asyncio.Task[None]]:
    """The runner as a background task for the block; its failure fails the test."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_projections(nats_url, database_url, stop, names, custom, namespace=ns, options=options)
    )
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def rows(store: ProjectionStore, query: str, *params: Any) -> list[dict[str, Any]]:
    return store.query(query, params)


async def caught_up(store: ProjectionStore, acks: Sequence[PubAck], *names: str) -> bool:
    """True once every named live build has committed past the last ack of each stream."""
    last: dict[str, int] = {}
    for ack in acks:
        last[ack.stream] = max(last.get(ack.stream, 0), ack.seq)

    def check() -> bool:
        for name in names:
            build = store.live(name)
            if build is None:
                return False
            got = {
                r["stream"]: r["seq"]
                for r in store.query(f'SELECT stream, seq FROM "{build.schema}".progress')
            }
            from prestacop.projections.catalog import BUILTINS

            streams = BUILTINS[name].streams if name in BUILTINS else tuple(last)
            if any(got.get(s, 0) < seq for s, seq in last.items() if s in streams):
                return False
        return True

    try:
        return await asyncio.to_thread(check)
    except Exception:  # tables not there yet
        return False


async def caught_up_to_heads(store: ProjectionStore, log: LogClient, *names: str) -> bool:
    """True once the named live builds have committed up to every stream's current head."""
    from prestacop.projections.catalog import BUILTINS

    acks = []
    for name in names:
        for stream in BUILTINS[name].streams:
            info = await log.js.stream_info(stream)
            if info.state.last_seq:
                acks.append(PubAck(stream=stream, seq=info.state.last_seq))
    return await caught_up(store, acks, *names)
