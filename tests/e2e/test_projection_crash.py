"""Exactly once across crashes: the runner is SIGKILLed at random points during a
load; after a restart every view equals a from-scratch rebuild, row for row."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.bootstrap import rebuild_projections
from prestacop.domain.subjects import quarantine
from prestacop.gate.records import encoder, quarantine_record
from prestacop.projections.catalog import BUILTINS
from prestacop.projections.sample_log import sample_events
from tests.conftest import wait_until
from tests.projection_support import caught_up, namespace, publish

KILLS = 5


def start_runner(nats_url: str, database_url: str, ns: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NATS_URL": nats_url, "DATABASE_URL": database_url}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from prestacop.cli.main import app; app()",
            "project",
            "run",
            "--namespace",
            ns,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def committed_or_exited(store: ProjectionStore, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        return True
    try:
        build = store.live("violations")
        return build is not None and bool(store.query(f'SELECT 1 FROM "{build.schema}".progress'))
    except Exception:  # not set up yet
        return False


def table_rows(store: ProjectionStore, ns: str, table: str, tenant: str) -> list[tuple]:
    result = store.query(f"SELECT * FROM {ns}.{table} WHERE tenant = %s", (tenant,))
    return sorted((tuple(r.values()) for r in result), key=repr)


async def test_views_after_sigkills_during_a_load_equal_a_rebuild_from_scratch(
    log, nats_url, database_url, tenant
):
    ns = namespace()
    rnd = random.Random()
    events = list(sample_events(tenant, 40_000, seed=rnd.randrange(1000)))
    record = quarantine_record(  # at a position no other test's gate sets aside: the
        "PRESTACOP_DRONES",  # rejected view keys on (stream, seq), across forces
        rnd.randrange(10**12, 2 * 10**12),
        f"prestacop.{tenant}.drone.x.position",
        datetime.now(UTC),
        "bad_json",
        "-",
        b"{",
    )
    events.insert(
        100, (quarantine(tenant, "PRESTACOP_DRONES"), encoder.encode(record), f"{tenant}-q")
    )
    acks = []

    async def load() -> None:
        for i in range(0, len(events), 1000):
            acks.extend(await publish(log, events[i : i + 1000]))
            await asyncio.sleep(0.1)  # a steady load, not synchronisation

    loading = asyncio.create_task(load())
    store = ProjectionStore(database_url, ns)
    kills = 0
    try:
        while kills < KILLS:
            proc = start_runner(nats_url, database_url, ns)
            # let it commit something, then kill it anywhere in its work
            await wait_until(
                lambda p=proc: committed_or_exited(store, p), timeout=20, what="runner started"
            )
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            await asyncio.sleep(rnd.uniform(0.2, 1.5))
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
            kills += 1
        await loading
        proc = start_runner(nats_url, database_url, ns)
        try:
            await wait_until(
                lambda: caught_up(store, acks, *BUILTINS),
                timeout=60,
                what="restarted runner caught up",
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 20)
    finally:
        loading.cancel()
    fresh = namespace()
    await rebuild_projections(nats_url, database_url, None, namespace=fresh)
    compared = 0
    for cls in BUILTINS.values():
        for table in cls.tables:
            live = table_rows(store, ns, table, tenant)
            rebuilt = table_rows(store, fresh, table, tenant)
            assert live == rebuilt, f"{table} differs from a rebuild after {kills} kills"
            compared += len(live)
    assert compared > 10_000
    assert table_rows(store, ns, "rejected", tenant)
    store.close()
