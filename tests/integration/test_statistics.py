"""Statistics analysts can trust, on real servers: local days, final codes moved exactly once,
fines of the day (the source's own amount when it has one), the code table in the database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.domain import codec
from prestacop.domain.events import OperatorDecisionRecorded, ViolationReported
from tests.conftest import wait_until
from tests.projection_support import (
    FROM_SCRATCH_S,
    caught_up,
    namespace,
    projecting,
    publish,
    publish_events,
    rows,
)

# 2016-12-31 23:59 in New York (EST, UTC-5): 04:59 UTC on New Year's Day.
LATE = datetime(2017, 1, 1, 4, 59, tzinfo=UTC)


@pytest.fixture
def ns() -> str:
    return namespace()


@pytest.fixture
def store(database_url: str, ns: str) -> Iterator[ProjectionStore]:
    s = ProjectionStore(database_url, ns)
    yield s
    s.close()


def ticket(mid: str, code: int, time: datetime = LATE, **extra: Any) -> ViolationReported:
    return ViolationReported(
        message_id=mid,
        drone_id="nypd-pct-44",
        time=time,
        latitude=None,
        longitude=None,
        violation_code=code,
        precinct=44,
        borough="Bronx",
        location_precision="precinct",
        origin="nypd_history",
        **{"plate_state": "NJ", **extra},
    )


def decide(
    mid: str, violation: str, code: int | None, minutes: int = 0
) -> OperatorDecisionRecorded:
    return OperatorDecisionRecorded(
        message_id=mid,
        alert_id=violation,
        drone_id="nypd-pct-44",
        officer_id="o1",
        time=datetime(2026, 1, 5, tzinfo=UTC) + timedelta(minutes=minutes),
        corrected_code=code,
    )


def long_form(store: ProjectionStore, ns: str, tenant: str) -> dict[tuple[str, str], tuple]:
    return {
        (r["dimension"], r["key"]): (r["violations"], r["fines"])
        for r in rows(store, f"SELECT * FROM {ns}.statistics WHERE tenant = %s", tenant)
    }


def cube(store: ProjectionStore, ns: str, tenant: str) -> list[dict[str, Any]]:
    return rows(
        store,
        f"SELECT code, reported_code, local_day, local_hour, violations, fines,"
        f" fines_from_source FROM {ns}.statistics_cube WHERE tenant = %s AND violations <> 0"
        " ORDER BY reported_code, code",
        tenant,
    )


async def test_a_ticket_at_2359_new_york_time_counts_on_its_own_local_day(
    log, nats_url, database_url, tenant, ns, store
):
    acks = await publish_events(
        log,
        tenant,
        [
            ticket(f"{tenant}-late", 21),
            ticket(f"{tenant}-nodate", 21, time=LATE, time_precision="day"),
        ],
    )
    async with projecting(nats_url, database_url, ns, ["statistics"]):
        await wait_until(
            lambda: caught_up(store, acks, "statistics"), timeout=FROM_SCRATCH_S, what="statistics"
        )
    stats = long_form(store, ns, tenant)
    assert stats[("local_day", "2016-12-31")][0] == 2  # not 2017-01-01 as in UTC
    assert ("local_day", "2017-01-01") not in stats
    assert stats[("local_month", "2016-12")][0] == 2 and stats[("local_weekday", "sat")][0] == 2
    assert stats[("local_hour", "23")][0] == 1  # not 04 (UTC)
    assert stats[("local_hour", "unknown")][0] == 1  # the time was not known: no hour invented
    assert {(r["local_day"], r["local_hour"]) for r in cube(store, ns, tenant)} == {
        (date(2016, 12, 31), 23),
        (date(2016, 12, 31), None),
    }
    # 2016: the 2013 schedule's $45 outside Manhattan, not today's $65.
    assert stats[("code", "21")] == (2, 90)


async def test_a_decision_moves_the_count_exactly_once_in_either_reading_order(
    log, nats_url, database_url, tenant, ns, store
):
    first, second = f"{tenant}-v1", f"{tenant}-v2"
    # v2's decision is in the log before v2 itself (another stream): it starts decided.
    acks = await publish_events(log, tenant, [decide(f"{tenant}-d0", second, 38)])
    acks += await publish_events(log, tenant, [ticket(first, 21), ticket(second, 21)])
    async with projecting(nats_url, database_url, ns, ["statistics"]):
        await wait_until(
            lambda: caught_up(store, acks, "statistics"), timeout=FROM_SCRATCH_S, what="first batch"
        )
        d1 = decide(f"{tenant}-d1", first, 38, minutes=1)
        acks = await publish_events(log, tenant, [d1])
        # The same decision again under another de-duplication id (a resend after the window).
        acks += await publish(log, [(codec.subject_for(tenant, d1), codec.encode(d1), "again")])
        await wait_until(
            lambda: caught_up(store, acks, "statistics"), timeout=FROM_SCRATCH_S, what="decision"
        )
        moved = cube(store, ns, tenant)
        assert [(r["code"], r["reported_code"], r["violations"]) for r in moved] == [(38, 21, 2)]
        acks = await publish_events(log, tenant, [decide(f"{tenant}-d2", first, None, 2)])
        await wait_until(
            lambda: caught_up(store, acks, "statistics"), timeout=FROM_SCRATCH_S, what="dismissal"
        )
    final = cube(store, ns, tenant)
    assert [(r["code"], r["violations"], r["fines"]) for r in final] == [
        (38, 1, 35),  # 2016, outside Manhattan: the 2013 schedule's muni-meter $35
        (None, 1, 0),  # no violation: no fine
    ]
    stats = long_form(store, ns, tenant)
    assert ("code", "21") not in stats and stats[("code", "dismissed")] == (1, 0)  # emptied
    assert stats[("reported_code", "21")] == (2, 35)
    assert stats[("decision", "38")][0] == 2 and stats[("decision", "dismissed")][0] == 1
    assert stats[("local_day", "2016-12-31")] == (2, 35)


async def test_the_camera_fine_is_the_sources_own_until_an_officer_changes_the_code(
    log, nats_url, database_url, tenant, ns, store
):
    bus = f"{tenant}-bus"
    when = datetime(2021, 3, 3, 15, tzinfo=UTC)
    acks = await publish_events(
        log, tenant, [ticket(bus, 5, when, fine_usd=50), ticket(f"{tenant}-x", 5, when)]
    )
    async with projecting(nats_url, database_url, ns, ["statistics"]):
        await wait_until(
            lambda: caught_up(store, acks, "statistics"), timeout=FROM_SCRATCH_S, what="tickets"
        )
        [got] = cube(store, ns, tenant)
        assert (got["violations"], got["fines"], got["fines_from_source"]) == (2, 300, 50)
        acks = await publish_events(log, tenant, [decide(f"{tenant}-d", bus, 14)])
        await wait_until(
            lambda: caught_up(store, acks, "statistics"), timeout=FROM_SCRATCH_S, what="decision"
        )
    by_code = {r["code"]: (r["fines"], r["fines_from_source"]) for r in cube(store, ns, tenant)}
    assert by_code == {5: (250, 0), 14: (115, 0)}  # $250 scheduled; 14 is $115 everywhere


async def test_the_code_table_and_the_fine_schedule_are_in_the_database(
    log, nats_url, database_url, tenant, ns, store
):
    acks = await publish_events(log, tenant, [ticket(f"{tenant}-one", 33)])
    async with projecting(nats_url, database_url, ns, ["statistics"]):
        await wait_until(
            lambda: caught_up(store, acks, "statistics"), timeout=FROM_SCRATCH_S, what="statistics"
        )
    [code] = rows(
        store, f"SELECT * FROM {ns}.violation_codes WHERE tenant = %s AND code = 33", tenant
    )
    assert code["description"] == "MISUSE PARKING PERMIT"
    assert code["description_2013"].startswith("Feeding Meter")
    periods = rows(
        store,
        f"SELECT valid_from, valid_until, all_other_areas FROM {ns}.fine_schedule"
        " WHERE tenant = %s AND code = 21 ORDER BY valid_from",
        tenant,
    )
    assert [(p["valid_until"], p["all_other_areas"]) for p in periods] == [
        (periods[1]["valid_from"], 45),
        (None, 65),
    ]
