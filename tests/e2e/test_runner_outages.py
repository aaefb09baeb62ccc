"""PostgreSQL SIGKILLed and restarted under a running runner, five times: after each
restart the runner catches up with what the log received meanwhile within 15 s."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pgserver  # type: ignore[import-untyped]
import pytest

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.bootstrap import LogClient
from prestacop.projections.runner import RunnerOptions
from prestacop.projections.sample_log import sample_events
from tests.conftest import wait_until
from tests.projection_support import caught_up, namespace, projecting, publish

KILLS = 5
RECOVERY_S = 15.0


@pytest.fixture
def own_postgres() -> Iterator[pgserver.PostgresServer]:
    """A PostgreSQL of this test's own: it is killed, the session's is not."""
    home = Path(tempfile.mkdtemp(prefix="prestacop-pgkill-"))
    server = pgserver.get_server(home / "pg", cleanup_mode="stop")
    yield server
    server.cleanup()
    shutil.rmtree(home, ignore_errors=True)


def kill(server: pgserver.PostgresServer) -> None:
    pid = server.get_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.get_postmaster_info().is_running() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the process table (a condition with a deadline)


async def test_runner_catches_up_within_seconds_after_each_postgres_kill(
    log: LogClient, nats_url: str, tenant: str, own_postgres: pgserver.PostgresServer
) -> None:
    database_url = own_postgres.get_uri()
    ns = namespace()
    store = ProjectionStore(database_url, ns)
    events = iter(sample_events(tenant, 200 * (KILLS + 1), seed=3))
    acks = await publish(log, [next(events) for _ in range(200)])
    recoveries = []
    try:
        options = RunnerOptions(check_every=0.1)
        async with projecting(nats_url, database_url, ns, ["drones"], options=options) as runner:
            await wait_until(lambda: caught_up(store, acks, "drones"), timeout=90, what="first")
            for _ in range(KILLS):
                await asyncio.to_thread(kill, own_postgres)
                acks += await publish(log, [next(events) for _ in range(200)])
                await asyncio.to_thread(own_postgres.ensure_postgres_running)
                started = time.monotonic()

                async def recovered(sent: list = acks) -> bool:  # type: ignore[type-arg]
                    return runner.done() or await caught_up(store, sent, "drones")

                await wait_until(
                    recovered,
                    timeout=RECOVERY_S,
                    what=f"caught up after restart #{len(recoveries) + 1}",
                )
                assert not runner.done()
                recoveries.append(round(time.monotonic() - started, 2))
    finally:
        store.close()
    print("recovery seconds:", recoveries)
    assert len(recoveries) == KILLS
