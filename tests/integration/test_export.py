"""``prestacop export``: the log and a view in Parquet, read back with DuckDB, equal the views;
the log export is incremental and a crashed chunk is never exported twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.analysis.charts import draw_all, read_figures
from prestacop.analysis.export import export_log, export_view
from tests.conftest import wait_until
from tests.integration.test_statistics import decide, ticket
from tests.projection_support import caught_up, namespace, projecting, publish_events, rows

# Every evening hour of a winter week in New York: UTC dates differ from local ones.
START = datetime(2024, 1, 8, 21, tzinfo=UTC)  # Monday 16:00 in New York


def parquet(root: Path, what: str) -> str:
    return f"read_parquet('{root / what}/**/*.parquet', hive_partitioning = true)"


async def test_the_export_read_by_duckdb_equals_the_views_and_grows_incrementally(
    log, nats_url, database_url, tenant, tmp_path
):
    ns = namespace()
    events = [
        ticket(f"{tenant}-t{i}", 21 if i % 3 else 38, START + timedelta(hours=i)) for i in range(30)
    ]
    events.append(decide(f"{tenant}-d", f"{tenant}-t1", None))
    acks = await publish_events(log, tenant, events)
    store = ProjectionStore(database_url, ns)
    try:
        async with projecting(nats_url, database_url, ns, ["violations", "statistics"]):
            await wait_until(
                lambda: caught_up(store, acks, "violations", "statistics"),
                timeout=30,
                what="views",
            )
        first = await export_log(log.source, tmp_path, tenant=tenant)
        assert first.messages == 31
        export_view(database_url, "statistics_cube", tmp_path, namespace=ns)
        export_view(database_url, "violations", tmp_path, namespace=ns)

        db = duckdb.connect()
        by_day = dict(
            db.execute(
                f"SELECT local_day::VARCHAR, count(*) FROM {parquet(tmp_path, 'log')}"
                " WHERE type = 'violation' GROUP BY ALL"
            ).fetchall()
        )
        stats = {
            r["key"]: r["violations"]
            for r in rows(
                store,
                f"SELECT key, violations FROM {ns}.statistics"
                " WHERE tenant = %s AND dimension = 'local_day'",
                tenant,
            )
        }
        assert by_day == stats and len(stats) > 1  # local days, not UTC ones
        cube = dict(
            db.execute(
                f"SELECT code, sum(violations)::INT FROM {parquet(tmp_path, 'statistics_cube')}"
                f" WHERE tenant = '{tenant}' GROUP BY ALL"
            ).fetchall()
        )
        assert cube == {21: 19, 38: 10, None: 1}  # t1 (code 21) was dismissed
        [(n, dismissed)] = db.execute(
            f"SELECT count(*), count(*) FILTER (WHERE status = 'dismissed')"
            f" FROM {parquet(tmp_path, 'violations')} WHERE tenant = '{tenant}'"
        ).fetchall()
        [view] = rows(store, f"SELECT count(*) AS n FROM {ns}.violations WHERE tenant = %s", tenant)
        assert (n, dismissed) == (view["n"], 1)

        # Incremental: only what is new; a leftover of a crashed chunk is removed first.
        more = await publish_events(
            log, tenant, [ticket(f"{tenant}-n{i}", 40, START) for i in range(2)]
        )
        leftover = tmp_path / "log" / f"tenant={tenant}" / "local_day=2024-01-08"
        (leftover / f"PRESTACOP_HISTORY-{more[-1].seq + 10:012d}-{more[-1].seq + 11:012d}.parquet"
         ).write_bytes(b"half")  # fmt: skip
        second = await export_log(log.source, tmp_path, tenant=tenant)
        assert second.messages == 2
        [(total, distinct)] = db.execute(
            f"SELECT count(*), count(DISTINCT message_id) FROM {parquet(tmp_path, 'log')}"
        ).fetchall()
        assert total == distinct == 33
        third = await export_log(log.source, tmp_path, tenant=tenant)
        assert third.messages == 0 and third.files == 0
    finally:
        store.close()


async def test_stats_charts_are_drawn_from_the_statistics_view(log, nats_url, database_url, tenant):
    ns = namespace()
    acks = await publish_events(
        log, tenant, [ticket(f"{tenant}-c{i}", 21, START + timedelta(hours=i)) for i in range(5)]
    )
    store = ProjectionStore(database_url, ns)
    try:
        async with projecting(nats_url, database_url, ns, ["statistics"]):
            await wait_until(lambda: caught_up(store, acks, "statistics"), timeout=20, what="stats")
    finally:
        store.close()
    figures = read_figures(database_url, tenant, namespace=ns)
    assert figures.total == 5
    assert [h for h, n in figures.by_hour if n] == ["16", "17", "18", "19", "20"]  # local hours
    assert figures.top_codes == [("21", 5)] and figures.by_weekday[0] == ("mon", 5)
    text = draw_all(figures, 80, 12)
    assert "Tickets per local hour" in text and "\x1b[" not in text
