"""Rebuilds: blue/green under concurrent queries, and an analyst's projection written
from the how-to alone, filled from the whole history."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.persistence import ProgrammingError

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.bootstrap import rebuild_projections
from prestacop.domain.events import ViolationReported
from prestacop.ports.projection import Projection
from prestacop.projections.sample_log import sample_events
from tests.conftest import wait_until
from tests.projection_support import caught_up, namespace, projecting, publish

DOC = Path(__file__).resolve().parents[2] / "docs" / "projections.md"


async def test_a_rebuild_under_concurrent_queries_never_shows_a_partial_view(
    log, nats_url, database_url, tenant
):
    ns = namespace()
    store = ProjectionStore(database_url, ns)
    acks = await publish(log, sample_events(tenant, 20_000, seed=7))
    async with projecting(nats_url, database_url, ns, ["violations", "statistics"]):
        await wait_until(
            lambda: caught_up(store, acks, "violations", "statistics"),
            timeout=30,
            what="live views caught up",
        )
    query = (
        f"SELECT (SELECT count(*) FROM {ns}.violations WHERE tenant = %s) AS n,"
        f" (SELECT sum(violations) FROM {ns}.statistics WHERE tenant = %s"
        "  AND dimension = 'code') AS s"
    )
    [expected] = store.query(query, (tenant, tenant))
    assert expected["n"] > 1000
    old = {store.live("violations").schema, store.live("statistics").schema}  # type: ignore[union-attr]

    seen: Counter[tuple[int, int]] = Counter()
    done = threading.Event()

    def keep_querying() -> None:
        reader = ProjectionStore(database_url, ns)
        try:
            while not done.is_set():
                [r] = reader.query(query, (tenant, tenant))
                seen[(r["n"], r["s"])] += 1
        finally:
            reader.close()

    querying = threading.Thread(target=keep_querying)
    querying.start()
    try:
        started = time.monotonic()
        await wait_until(lambda: sum(seen.values()) > 5, what="queries running")
        schemas = await rebuild_projections(
            nats_url, database_url, ["violations", "statistics"], namespace=ns
        )
        took = time.monotonic() - started
        before = sum(seen.values())
        await wait_until(lambda: sum(seen.values()) > before + 5, what="queries after the swap")
    finally:
        done.set()
        await asyncio.to_thread(querying.join)
    assert set(schemas).isdisjoint(old) and len(schemas) == 2
    assert {store.live("violations").schema, store.live("statistics").schema} == set(schemas)  # type: ignore[union-attr]
    assert seen.keys() == {(expected["n"], expected["s"])}, f"partial views seen: {seen}"
    assert sum(seen.values()) > 20, f"only {sum(seen.values())} queries in {took:.1f}s"
    store.close()


async def test_a_projection_written_from_the_how_to_fills_from_the_whole_history(
    log, nats_url, database_url, tenant, tmp_path
):
    code = re.search(r'```python title="analyst_drone_days.py"\n(.*?)```', DOC.read_text(), re.S)
    assert code, "the how-to has the example module"
    (tmp_path / "analyst_drone_days.py").write_text(code.group(1))
    events = list(sample_events(tenant, 3_000, seed=11))
    await publish(log, events)
    expected: Counter[tuple[str, str]] = Counter()
    from msgspec.json import decode

    for _subject, data, _ in events:
        if b'"type":"violation"' in data:
            v = decode(data, type=ViolationReported)
            local = v.time.astimezone(ZoneInfo("America/New_York"))  # the default force zone
            expected[(v.drone_id, local.date().isoformat())] += 1
    ns = namespace()
    sys.path.insert(0, str(tmp_path))
    try:
        schemas = await rebuild_projections(
            nats_url, database_url, [], ["analyst_drone_days:DroneDays"], namespace=ns
        )
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("analyst_drone_days", None)
    assert len(schemas) == 1
    store = ProjectionStore(database_url, ns)
    got = {
        (r["drone_id"], r["local_day"].isoformat()): r["violations"]
        for r in store.query(
            f"SELECT drone_id, local_day, violations FROM {ns}.drone_days WHERE tenant = %s",
            (tenant,),
        )
    }
    store.close()
    assert got == dict(expected)


async def test_a_running_runner_follows_a_rebuild_swap_and_keeps_the_view_live(
    log, nats_url, database_url, tenant
):
    ns = namespace()
    store = ProjectionStore(database_url, ns)
    acks = await publish(log, sample_events(tenant, 2_000, seed=8))
    async with projecting(nats_url, database_url, ns, ["violations"]) as runner:
        await wait_until(
            lambda: caught_up(store, acks, "violations"), timeout=30, what="live view caught up"
        )
        old = store.live("violations")
        [schema] = await rebuild_projections(nats_url, database_url, ["violations"], namespace=ns)
        more = await publish(log, sample_events(tenant, 500, seed=9))
        await wait_until(
            lambda: caught_up(store, more, "violations"),
            timeout=90,  # the runner re-reads the module's whole log into the new build
            what="the runner applied new events to the new build",
        )
        assert not runner.done()
    assert old is not None and old.schema != schema
    assert [b.schema for b in store.builds("violations")] == [schema]
    counted = store.query(
        f"SELECT count(*) AS n FROM {ns}.violations WHERE tenant = %s", (tenant,)
    )[0]["n"]
    expected = sum(
        1
        for s, _, _ in [*sample_events(tenant, 2_000, seed=8), *sample_events(tenant, 500, seed=9)]
        if s.endswith(".violation") or ".review." in s
    )
    assert counted == expected
    store.close()


async def test_a_rebuild_in_two_processes_fills_the_same_views_as_one(
    log, nats_url, database_url, tenant
):
    from prestacop.bootstrap import rebuild_in_processes
    from prestacop.projections.parallel import groups_of

    assert groups_of(["drones", "violations", "alerts"], 2) == [
        ["violations"],
        ["drones", "alerts"],
    ]
    await publish(log, sample_events(tenant, 3_000, seed=11))
    one, two = namespace(), namespace()
    names = ["violations", "drones", "statistics"]
    await rebuild_projections(nats_url, database_url, names, namespace=one)
    schemas, rss = await rebuild_in_processes(nats_url, database_url, names, namespace=two)
    assert len(schemas) == 3 and len(rss) == 2
    counts = []
    for ns in (one, two):
        store = ProjectionStore(database_url, ns)
        counts.append(
            [
                store.query(f"SELECT count(*) AS n FROM {ns}.{table} WHERE tenant = %s", (tenant,))
                for table in ("violations", "drones", "statistics")
            ]
        )
        store.close()
    assert counts[0] == counts[1] and counts[0][0][0]["n"] > 100


class _Indexed(Projection):
    name = "indexed"
    tables = {"t": "tenant text NOT NULL, n int NOT NULL"}
    query_indexes = ("CREATE INDEX t_by_n ON t (n)",)


class _Unbuildable(_Indexed):
    name = "unbuildable"
    query_indexes = ("CREATE INDEX t_by_n ON t (n)", "CREATE INDEX ON no_such_table (n)")


def test_query_indexes_are_built_by_the_swap_in_its_transaction(database_url):
    """A build fills without its query indexes; the swap builds them in the transaction that
    makes the build live: a swap cut short (here, its second index fails) leaves neither."""
    store = ProjectionStore(database_url, namespace())
    store.setup()

    def state(schema: str) -> tuple[set[str], list[str], str]:
        names = {r["indexname"] for r in store.query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
            (schema, "t"))}  # fmt: skip
        [row] = store.query(
            f"SELECT pending_indexes, state FROM {store.meta}.builds WHERE schema = %s", (schema,)
        )
        return names, row["pending_indexes"], row["state"]

    try:
        bad = store.create_build(_Unbuildable, "test")
        assert state(bad.schema) == (set(), list(_Unbuildable.query_indexes), "building")
        with pytest.raises(ProgrammingError, match="no_such_table"):
            store.swap(bad)
        assert state(bad.schema) == (set(), list(_Unbuildable.query_indexes), "building")
        assert store.live("unbuildable") is None

        good = store.create_build(_Indexed, "test")
        assert state(good.schema) == (set(), ["CREATE INDEX t_by_n ON t (n)"], "building")
        store.swap(good)
        assert state(good.schema) == ({"t_by_n"}, [], "live")
        store.swap(good)  # swapping in again builds nothing twice
        assert state(good.schema) == ({"t_by_n"}, [], "live")
    finally:
        store.close()
