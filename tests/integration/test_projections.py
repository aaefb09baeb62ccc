"""The built-in views follow the log exactly: violations with decisions, drones,
alerts, statistics, rejected; poison events; old schema versions; analysts' own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.domain import upcasting
from prestacop.domain.events import (
    AlertClaimed,
    AlertReleased,
    DroneControlTaken,
    OperatorDecisionRecorded,
    PositionReported,
    ViolationReported,
)
from prestacop.domain.subjects import alert as alert_subject
from prestacop.domain.subjects import quarantine
from prestacop.gate.records import encoder, quarantine_record
from prestacop.projections.views.violations import Violations
from tests import factories
from tests.conftest import wait_until
from tests.projection_support import (
    FROM_SCRATCH_S,
    caught_up,
    caught_up_to_heads,
    namespace,
    projecting,
    publish,
    publish_events,
    rows,
)

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def violation(
    mid: str, code: int, *, drone: str = "d1", minutes: int = 0, **extra: object
) -> ViolationReported:
    fields = {"plate": "ABC123", "plate_state": "NY", **extra}
    return factories.violation(
        mid, code, drone, time=at(minutes), latitude=40.71, longitude=-74.0, **fields
    )


def position(mid: str, minutes: int, lat: float, drone: str = "d1") -> PositionReported:
    return factories.position(
        mid, drone, time=at(minutes), latitude=lat, longitude=-74.0, battery_pct=80.0
    )


def decision(
    mid: str, alert: str, code: int | None, *, drone: str = "d1", minutes: int = 5
) -> OperatorDecisionRecorded:
    return factories.decided(
        "o7", alert, code, message_id=mid, drone_id=drone, time=at(minutes), note="seen on image"
    )


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def ns() -> str:
    return namespace()


@pytest.fixture
def store(database_url: str, ns: str) -> Iterator[ProjectionStore]:
    s = ProjectionStore(database_url, ns)
    yield s
    s.close()


async def test_a_decision_replaces_the_code_in_violations_and_keeps_both_codes(
    log, nats_url, database_url, tenant, ns, store
):
    acks = await publish_events(
        log,
        tenant,
        [
            violation(f"{tenant}-v1", 0),
            violation(f"{tenant}-v2", 21),
            violation(f"{tenant}-v3", 0),
            decision(f"{tenant}-x1", f"{tenant}-v1", 14),
            decision(f"{tenant}-x2", f"{tenant}-v2", None),
            decision(f"{tenant}-x3", f"{tenant}-v1", 38, minutes=9),  # changed their mind
        ],
    )
    async with projecting(nats_url, database_url, ns, ["violations"]):
        await wait_until(
            lambda: caught_up(store, acks, "violations"), timeout=20, what="violations caught up"
        )
    got = rows(
        store,
        f"SELECT violation_id, drone_code, code, status, decided_by FROM {ns}.violations"
        " WHERE tenant = %s ORDER BY violation_id",
        tenant,
    )
    assert got == [
        {
            "violation_id": f"{tenant}-v1",
            "drone_code": 0,
            "code": 38,
            "status": "corrected",
            "decided_by": "o7",
        },
        {
            "violation_id": f"{tenant}-v2",
            "drone_code": 21,
            "code": None,
            "status": "dismissed",
            "decided_by": "o7",
        },
        {
            "violation_id": f"{tenant}-v3",
            "drone_code": 0,
            "code": 0,
            "status": "pending_review",
            "decided_by": None,
        },
    ]
    history = rows(
        store,
        f"SELECT corrected_code FROM {ns}.violation_decisions"
        " WHERE tenant = %s AND violation_id = %s ORDER BY seq",
        tenant,
        f"{tenant}-v1",
    )
    assert [h["corrected_code"] for h in history] == [14, 38]


async def test_a_live_decision_reaches_the_violations_view(
    log, nats_url, database_url, tenant, ns, store
):
    async with projecting(nats_url, database_url, ns, ["violations"]):
        acks = await publish_events(log, tenant, [violation(f"{tenant}-v", 0)])
        await wait_until(
            lambda: caught_up(store, acks, "violations"), timeout=20, what="violation visible"
        )
        await wait_until(
            lambda: caught_up_to_heads(store, log, "violations"), timeout=30, what="idle runner"
        )
        await publish_events(log, tenant, [decision(f"{tenant}-d", f"{tenant}-v", 40)])

        def decided() -> bool:
            r = rows(store, f"SELECT code FROM {ns}.violations WHERE tenant = %s", tenant)
            return bool(r) and r[0]["code"] == 40

        # How fast is measured by bench/projections.py (visibility lag p99), not asserted here.
        await wait_until(decided, timeout=20, what="decision in violations")


async def test_drones_alerts_and_statistics_follow_the_log(
    log, nats_url, database_url, tenant, ns, store
):
    alert = f"{tenant}-r1"
    acks = await publish_events(
        log,
        tenant,
        [
            position(f"{tenant}-p1", 0, 40.1),
            position(f"{tenant}-p3", 2, 40.3),
            position(f"{tenant}-p2", 1, 40.2),  # late: not the last position
            violation(f"{tenant}-v1", 21, minutes=3, borough="Manhattan", precinct=5),
            violation(alert, 0, minutes=4),
            AlertClaimed(
                message_id=f"{tenant}-c1",
                alert_id=alert,
                drone_id="d1",
                officer_id="o1",
                time=T0 + timedelta(minutes=5),
            ),
            AlertReleased(
                message_id=f"{tenant}-c2",
                alert_id=alert,
                drone_id="d1",
                officer_id="o1",
                time=T0 + timedelta(minutes=6),
            ),
            AlertClaimed(
                message_id=f"{tenant}-c3",
                alert_id=alert,
                drone_id="d1",
                officer_id="o2",
                time=T0 + timedelta(minutes=7),
            ),
            DroneControlTaken(
                message_id=f"{tenant}-c4",
                alert_id=alert,
                drone_id="d1",
                officer_id="o2",
                time=T0 + timedelta(minutes=8),
                succeeded=True,
            ),
            decision(f"{tenant}-c5", alert, 14, minutes=9),
        ],
    )
    async with projecting(nats_url, database_url, ns, ["drones", "alerts", "statistics"]):
        await wait_until(
            lambda: caught_up(store, acks, "drones", "alerts", "statistics"),
            timeout=FROM_SCRATCH_S,
            what="views caught up",
        )
    [drone] = rows(store, f"SELECT * FROM {ns}.drones WHERE tenant = %s", tenant)
    assert (drone["latitude"], drone["positions"], drone["violations"], drone["messages"]) == (
        40.3,
        3,
        2,
        5,
    )
    assert drone["last_seen_at"] == T0 + timedelta(minutes=4)
    [a] = rows(store, f"SELECT * FROM {ns}.alerts WHERE tenant = %s", tenant)
    assert (
        a["status"],
        a["claimed_by"],
        a["control_by"],
        a["control_succeeded"],
        a["decided_by"],
        a["corrected_code"],
        a["is_review"],
    ) == ("resolved", "o2", "o2", True, "o7", 14, True)
    steps = rows(
        store, f"SELECT step FROM {ns}.alert_events WHERE tenant = %s ORDER BY seq", tenant
    )
    assert [s["step"] for s in steps] == [
        "claimed",
        "released",
        "claimed",
        "control_taken",
        "decided",
    ]
    stats = {
        (r["dimension"], r["key"]): (r["violations"], r["fines"])
        for r in rows(store, f"SELECT * FROM {ns}.statistics WHERE tenant = %s", tenant)
    }
    assert stats[("code", "21")] == (1, 65)  # Manhattan below 96th: the code table's $65
    assert stats[("code", "14")] == (1, 115)  # the review violation, under the officer's code
    assert stats[("reported_code", "0")] == (1, 115)
    assert stats[("local_day", "2026-03-02")] == (2, 180)
    assert stats[("local_weekday", "mon")][0] == 2
    assert stats[("decision", "14")] == (1, 0)


async def test_rejected_lists_quarantined_messages_once_with_reason_and_position(
    log, nats_url, database_url, tenant, ns, store
):
    now = datetime.now(UTC)
    # A real bad message: log positions are unique across tenants, so the record must point
    # at one that is this test's own.
    subject = f"prestacop.{tenant}.drone.d1.position"
    (bad,) = await publish(log, [(subject, b"{not json", f"{tenant}-bad")])
    record = quarantine_record(
        "PRESTACOP_DRONES", bad.seq, subject, now, "bad_json", "truncated", b"{not json"
    )
    data = encoder.encode(record)
    acks = await publish(
        log,
        [
            (quarantine(tenant, "PRESTACOP_DRONES"), data, f"{tenant}-q1"),
            (quarantine(tenant, "PRESTACOP_DRONES"), data, f"{tenant}-q2"),
        ],
    )
    async with projecting(nats_url, database_url, ns, ["rejected"]):
        await wait_until(
            lambda: caught_up(store, acks, "rejected"), timeout=20, what="rejected caught up"
        )
    got = rows(
        store, f"SELECT stream, seq, reason, raw FROM {ns}.rejected WHERE tenant = %s", tenant
    )
    assert got == [
        {"stream": "PRESTACOP_DRONES", "seq": bad.seq, "reason": "bad_json", "raw": "{not json"}
    ]


async def test_a_poison_event_is_recorded_with_its_position_and_the_rest_still_apply(
    log, nats_url, database_url, tenant, ns, store
):
    acks = await publish_events(
        log,
        tenant,
        [
            violation(f"{tenant}-ok1", 21, plate="FINE1"),
            violation(f"{tenant}-bad", 21, plate="POISON"),
            violation(f"{tenant}-ok2", 21, plate="FINE2"),
        ],
    )
    custom = "tests.projection_poison:PoisonedPlates"
    async with projecting(nats_url, database_url, ns, ["violations"], [custom]):
        await wait_until(
            lambda: caught_up(store, acks, "violations", "poisoned_plates"),
            timeout=20,
            what="caught up past the poison",
        )
    plates = rows(
        store, f"SELECT plate FROM {ns}.poisoned_plates WHERE tenant = %s ORDER BY plate", tenant
    )
    assert [p["plate"] for p in plates] == ["FINE1", "FINE2"]
    build = store.live("poisoned_plates")
    assert build is not None
    dead = rows(
        store,
        f'SELECT stream, seq, error FROM "{build.schema}".dead_letters WHERE tenant = %s',
        tenant,
    )
    bad_ack = acks[1]
    assert dead == [
        {
            "stream": bad_ack.stream,
            "seq": bad_ack.seq,
            "error": "ValueError: plate POISON is poison",
        }
    ]
    assert len(rows(store, f"SELECT 1 FROM {ns}.violations WHERE tenant = %s", tenant)) == 3


async def test_invalid_and_unknown_messages_are_passed_but_advance_the_position(
    log, nats_url, database_url, tenant, ns, store
):
    acks = await publish(
        log,
        [
            (
                f"prestacop.{tenant}.drone.d1.position",
                b'{"type": "teleported", "message_id": "x"}',
                f"{tenant}-u1",
            ),
            (f"prestacop.{tenant}.drone.d1.position", b"not json", f"{tenant}-u2"),
        ],
    )
    async with projecting(nats_url, database_url, ns, ["drones"]):
        await wait_until(
            lambda: caught_up(store, acks, "drones"),
            timeout=FROM_SCRATCH_S,
            what="position past the invalid messages",
        )
    assert rows(store, f"SELECT 1 FROM {ns}.drones WHERE tenant = %s", tenant) == []


async def test_a_v1_event_and_its_successor_are_read_by_the_same_projection(
    log, nats_url, database_url, tenant, ns, store
):
    # v2 of "violation" renamed the v1 field "licence" to "plate": an upcaster bridges them.
    def v1_to_v2(obj: dict) -> dict:
        obj["plate"] = obj.pop("licence", None)
        return obj

    old = violation(f"{tenant}-old", 21)
    v1 = {**msgspec.to_builtins(old), "v": 1}
    v1["licence"] = v1.pop("plate")
    new = {**msgspec.to_builtins(violation(f"{tenant}-new", 21)), "v": 2}
    subject = f"prestacop.{tenant}.drone.d1.violation"
    saved = dict(upcasting.UPCASTERS), dict(upcasting.CURRENT_VERSIONS)
    try:
        upcasting.register("violation", 1)(v1_to_v2)
        acks = await publish(
            log,
            [
                (subject, msgspec.json.encode(v1), f"{tenant}-old"),
                (subject, msgspec.json.encode(new), f"{tenant}-new"),
            ],
        )
        async with projecting(nats_url, database_url, ns, ["violations"]):
            await wait_until(
                lambda: caught_up(store, acks, "violations"),
                timeout=20,
                what="both versions projected",
            )
    finally:  # the real upcasters back, as they were
        upcasting.UPCASTERS.clear(), upcasting.UPCASTERS.update(saved[0])
        upcasting.CURRENT_VERSIONS.clear(), upcasting.CURRENT_VERSIONS.update(saved[1])
    got = rows(
        store,
        f"SELECT violation_id, plate FROM {ns}.violations WHERE tenant = %s ORDER BY violation_id",
        tenant,
    )
    assert got == [
        {"violation_id": f"{tenant}-new", "plate": "ABC123"},
        {"violation_id": f"{tenant}-old", "plate": "ABC123"},
    ]


async def test_a_decision_read_before_its_violation_still_applies_and_a_resent_id_counts_once(
    log, nats_url, database_url, tenant, ns, store
):
    first = violation(f"{tenant}-v", 21, plate="FIRST")
    again = violation(f"{tenant}-v", 21, plate="AGAIN")  # same id, resent past de-duplication
    acks = await publish_events(log, tenant, [decision(f"{tenant}-d", f"{tenant}-v", 40)])
    acks += await publish(
        log,
        [
            (f"prestacop.{tenant}.drone.d1.violation", msgspec.json.encode(first), f"{tenant}-1"),
            (f"prestacop.{tenant}.drone.d1.violation", msgspec.json.encode(again), f"{tenant}-2"),
        ],
    )
    async with projecting(nats_url, database_url, ns, ["violations"]):
        await wait_until(
            lambda: caught_up(store, acks, "violations"), timeout=20, what="violations caught up"
        )
    got = rows(
        store,
        f"SELECT plate, drone_code, code, status FROM {ns}.violations WHERE tenant = %s",
        tenant,
    )
    assert got == [{"plate": "FIRST", "drone_code": 21, "code": 40, "status": "corrected"}]


async def test_a_decision_resent_after_the_dedup_window_is_one_row_and_undoes_no_later_one(
    log, nats_url, database_url, tenant, ns, store
):
    first = decision(f"{tenant}-d1", f"{tenant}-v", 40)
    wire = msgspec.json.encode(first)
    subject = alert_subject(tenant, f"{tenant}-v", first.officer_id)
    acks = await publish_events(
        log,
        tenant,
        [violation(f"{tenant}-v", 0), first, decision(f"{tenant}-d2", f"{tenant}-v", 38)],
    )
    acks += await publish(
        log, [(subject, wire, f"{tenant}-d1-late")]
    )  # d1 again, a new Nats-Msg-Id
    async with projecting(nats_url, database_url, ns, ["violations"]):
        await wait_until(
            lambda: caught_up(store, acks, "violations"), timeout=20, what="violations caught up"
        )
    got = rows(
        store,
        f"SELECT decision_id FROM {ns}.violation_decisions WHERE tenant = %s ORDER BY seq",
        tenant,
    )
    assert [g["decision_id"] for g in got] == [f"{tenant}-d1", f"{tenant}-d2"]
    (v,) = rows(store, f"SELECT code, status FROM {ns}.violations WHERE tenant = %s", tenant)
    assert v == {"code": 38, "status": "corrected"}


async def test_status_shows_each_view_with_its_position_lag_and_errors(
    log, nats_url, database_url, tenant, ns, store
):
    from typer.testing import CliRunner

    from prestacop.cli.main import app

    acks = await publish_events(log, tenant, [violation(f"{tenant}-v", 21)])
    async with projecting(nats_url, database_url, ns, ["violations", "drones"]):
        await wait_until(
            lambda: caught_up(store, acks, "violations", "drones"), timeout=20, what="caught up"
        )
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["project", "status", "--namespace", ns],
        env={"NATS_URL": nats_url, "DATABASE_URL": database_url, "COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    schema = f"_violations_v{Violations.version}_"  # v2 since status became generated
    lines = [line for line in result.output.splitlines() if schema in line]
    assert lines and "live" in lines[0]
    assert f"DRONES {acks[0].seq}/" in result.output
    assert "drones" in result.output


def test_run_refuses_an_unknown_view_with_the_list_of_built_ins():
    from typer.testing import CliRunner

    from prestacop.cli.main import app

    result = CliRunner().invoke(app, ["project", "run", "violatoins"])
    assert result.exit_code == 2
    assert "no built-in projection 'violatoins'" in result.output


async def test_status_json_shows_lag_while_behind_and_whether_a_runner_is_alive(
    log, nats_url, database_url, tenant, ns, store
):
    import json

    from typer.testing import CliRunner

    from prestacop.cli.main import app

    def status() -> dict:
        result = CliRunner().invoke(
            app,
            ["project", "status", "--namespace", ns, "--json"],
            env={"NATS_URL": nats_url, "DATABASE_URL": database_url},
        )
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    acks = await publish_events(log, tenant, [violation(f"{tenant}-v1", 21)])
    async with projecting(nats_url, database_url, ns, ["violations"]):
        await wait_until(lambda: caught_up(store, acks, "violations"), timeout=20, what="caught up")
        running = await asyncio.to_thread(status)
    assert running["runner_alive"]
    await publish_events(log, tenant, [violation(f"{tenant}-v2", 21, minutes=1)])
    stopped = await asyncio.to_thread(status)
    (build,) = [b for b in stopped["builds"] if b["name"] == "violations"]
    assert not stopped["runner_alive"]
    assert build["lag_events"] >= 1
    assert build["lag_seconds"] > 0
    assert build["events_per_s"] == 0
