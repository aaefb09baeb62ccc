"""``prestacop export``: the log and a view in Parquet, read back with DuckDB, equal the views;
both exports are incremental: the log's only appends, a view's rewrites only the partitions
(force, local day) whose rows changed, and a crashed chunk is never exported twice."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.analysis.charts import draw_all
from prestacop.analysis.export import export_log
from prestacop.bootstrap import export_view, read_figures
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


def files(root: Path) -> dict[str, tuple[int, int]]:
    """Each Parquet file under ``root`` with its inode and mtime: a rewrite changes them."""
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in root.rglob("*.parquet")
    }


def duck_equals_view(db, store, root: Path, ns: str, tenant: str) -> None:  # type: ignore[no-untyped-def]
    """The exported cube and violations, row by row, equal the views (for this force)."""
    for view, cols in [
        (
            "statistics_cube",
            "code, reported_code, local_day::{text}, local_hour, violations, fines",
        ),
        ("violations", "violation_id, status, drone_code, code, time"),
    ]:
        exported = db.execute(
            f"SELECT {cols.format(text='VARCHAR')} FROM {parquet(root, view)}"
            f" WHERE tenant = '{tenant}'"
        ).fetchall()
        viewed = rows(
            store, f"SELECT {cols.format(text='text')} FROM {ns}.{view} WHERE tenant = %s", tenant
        )
        assert Counter(exported) == Counter(tuple(r.values()) for r in viewed), view


async def test_a_view_export_rewrites_only_the_partitions_that_changed(
    log, nats_url, database_url, tenant, tmp_path
):
    ns = namespace()
    views = ["violations", "statistics"]
    store = ProjectionStore(database_url, ns)
    db = duckdb.connect()

    async def project(events: list) -> None:  # type: ignore[type-arg]
        acks = await publish_events(log, tenant, events)
        async with projecting(nats_url, database_url, ns, views):
            await wait_until(lambda: caught_up(store, acks, *views), timeout=30, what="views")

    def export() -> tuple[int, int]:
        cube = export_view(database_url, "statistics_cube", tmp_path, namespace=ns)
        vio = export_view(database_url, "violations", tmp_path, namespace=ns)
        return cube.files + vio.files, cube.messages + vio.messages

    try:
        # Two local days (Monday evening and Tuesday in New York), one dismissal.
        await project(
            [ticket(f"{tenant}-t{i}", 21, START + timedelta(hours=i)) for i in range(30)]
            + [decide(f"{tenant}-d1", f"{tenant}-t1", None)]
        )
        written, _ = export()
        assert written > 0
        duck_equals_view(db, store, tmp_path, ns, tenant)
        before = files(tmp_path)

        # A new day, and a decision on Monday's t2: Monday's counts change, Tuesday's do not.
        await project(
            [
                ticket(f"{tenant}-n1", 38, START + timedelta(days=3)),
                decide(f"{tenant}-d2", f"{tenant}-t2", 40),
            ]
        )
        export()
        after = files(tmp_path)
        mine = f"tenant={tenant}/local_day="
        # this force's partitions (the session's other forces' rows may move meanwhile:
        # the views also follow the gate's records of earlier tests)
        changed = {f for f in after if mine in f and before.get(f) != after[f]}
        assert changed == {
            f"{view}/{mine}{day}/data.parquet"
            for view in ("statistics_cube", "violations")
            for day in ("2024-01-08", "2024-01-11")
        }
        assert f"violations/{mine}2024-01-09/data.parquet" in after  # kept as it was
        duck_equals_view(db, store, tmp_path, ns, tenant)
        [(moved,)] = db.execute(
            f"SELECT sum(violations)::INT FROM {parquet(tmp_path, 'statistics_cube')}"
            f" WHERE tenant = '{tenant}' AND code = 40 AND reported_code = 21"
        ).fetchall()
        assert moved == 1

        # Nothing new: nothing read, nothing written.
        assert export() == (0, 0)
        assert files(tmp_path) == after
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


async def test_a_view_export_cut_short_leaves_every_row_once_and_the_next_run_completes_it(
    log, nats_url, database_url, tenant, tmp_path
):
    """A crash after some partitions were replaced (the manifest is saved last): readers see
    each row once meanwhile, and the next run rewrites what it must and ends equal."""
    ns = namespace()
    store = ProjectionStore(database_url, ns)
    db = duckdb.connect()
    events = [ticket(f"{tenant}-k{i}", 21, START + timedelta(hours=5 * i)) for i in range(12)]
    acks = await publish_events(log, tenant, events)
    try:
        async with projecting(nats_url, database_url, ns, ["violations"]):
            await wait_until(lambda: caught_up(store, acks, "violations"), timeout=30, what="v")

        def crash(done: int, total: int) -> None:
            if done:
                raise KeyboardInterrupt  # as a Ctrl-C or a kill between two partitions

        try:
            export_view(database_url, "violations", tmp_path, namespace=ns, on_progress=crash)
        except KeyboardInterrupt:
            pass
        written = list((tmp_path / "violations").rglob("*.parquet"))
        assert 0 < len(written) and not (tmp_path / "violations" / "_export.json").exists()
        [(n, distinct)] = db.execute(  # a violation is (force, id): forces may share ids
            "SELECT count(*), count(DISTINCT tenant || '/' || violation_id)"
            f" FROM {parquet(tmp_path, 'violations')}"
        ).fetchall()
        assert n == distinct  # what is there is there once
        again = export_view(database_url, "violations", tmp_path, namespace=ns)
        assert again.files > 0
        assert not list((tmp_path / "violations").rglob(".*.tmp"))
        [(mine,)] = db.execute(
            f"SELECT count(*) FROM {parquet(tmp_path, 'violations')} WHERE tenant = '{tenant}'"
        ).fetchall()
        assert mine == 12
        [(n, distinct)] = db.execute(  # a violation is (force, id): forces may share ids
            "SELECT count(*), count(DISTINCT tenant || '/' || violation_id)"
            f" FROM {parquet(tmp_path, 'violations')}"
        ).fetchall()
        [view] = rows(store, f"SELECT count(*) AS n FROM {ns}.violations")
        assert n == distinct == view["n"]
    finally:
        store.close()
