"""Pure parts of the projections: loading analysts' classes, alert life, batching."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from prestacop.domain.events import AlertClaimed, AlertReleased, OperatorDecisionRecorded
from prestacop.domain.fines import fine_of_day
from prestacop.projections.api import Envelope
from prestacop.projections.catalog import BUILTINS, ProjectionNotFound, load, select
from prestacop.projections.decoding import decode_chunk
from prestacop.projections.sample_log import sample_events
from prestacop.projections.views.alerts import evolve, new_alert

T = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_shipped_example_loads_by_module_and_class():
    cls = load("prestacop.projections.examples.repeat_offenders:RepeatOffenders")
    assert cls.name == "repeat_offenders" and "repeat_offenders" in cls.tables


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("prestacop.nowhere:Thing", "No module named"),
        ("prestacop.projections.api:Envelope", "not a subclass"),
        ("prestacop.projections.api:Projection", "name"),
        ("no_such_entry_point", "no entry point"),
    ],
)
def test_a_bad_custom_projection_is_refused_with_what_is_wrong(spec, says):
    with pytest.raises(ProjectionNotFound, match=says):
        load(spec)


def test_names_select_built_ins_and_unknown_names_are_refused():
    assert [p.name for p in select(None)[0]] == list(BUILTINS)
    assert select([])[0] == []
    with pytest.raises(ProjectionNotFound, match="built-ins: violations"):
        select(["violation"])


def test_an_alert_is_claimed_released_reclaimed_and_resolved_in_order():
    row = new_alert("t", "a1", "d1", 10)
    for step in (
        AlertClaimed(message_id="1", alert_id="a1", drone_id="d1", officer_id="o1", time=T),
        AlertReleased(message_id="2", alert_id="a1", drone_id="d1", officer_id="o1", time=T),
        AlertClaimed(message_id="3", alert_id="a1", drone_id="d1", officer_id="o2", time=T),
        OperatorDecisionRecorded(
            message_id="4",
            alert_id="a1",
            drone_id="d1",
            officer_id="o2",
            time=T,
            corrected_code=None,
        ),
        AlertClaimed(message_id="5", alert_id="a1", drone_id="d1", officer_id="o3", time=T),
    ):
        evolve(row, step, 11)
    assert (row["status"], row["decided_by"], row["dismissed"], row["steps"]) == (
        "resolved",
        "o2",
        True,
        5,
    )


def test_fines_follow_the_code_table_and_manhattan_below_96th():
    today = date(2025, 6, 1)
    assert fine_of_day(38, today, "Manhattan", 5) == (65, "schedule")
    assert fine_of_day(38, today, "Manhattan", 30) == (35, "schedule")  # Harlem: above 96th
    assert fine_of_day(38, today, "Brooklyn", 77) == (35, "schedule")
    assert fine_of_day(0, today, None, None) == (0, "none")


def test_fines_follow_the_schedule_of_the_tickets_day_or_the_sources_amount():
    assert fine_of_day(21, date(2016, 12, 31), "Bronx", 44) == (45, "schedule")  # 2013 table
    assert fine_of_day(21, date(2021, 1, 4), "Bronx", 44) == (65, "schedule")
    assert fine_of_day(5, date(2021, 1, 4), "Queens", 110) == (250, "schedule")
    assert fine_of_day(5, date(2021, 1, 4), "Queens", 110, own=50) == (50, "source")
    assert fine_of_day(None, date(2021, 1, 4), "Queens", 110, own=50) == (0, "none")
    assert fine_of_day(4, date(2001, 1, 1), "Manhattan", 1) == (115, "schedule")  # earliest


def test_invalid_messages_yield_no_envelope_but_are_counted_by_reason():
    raw = [(i + 1, s, d, 0) for i, (s, d, _) in enumerate(sample_events("t", 50, seed=3))]
    now_ns = int((T + timedelta(days=400)).timestamp() * 1e9)
    raw = [(seq, s, d, now_ns, None) for seq, s, d, _ in raw]
    raw.append((51, "prestacop.t.drone.d1.position", b"{oops", now_ns, None))
    unknown = b'{"type":"new_thing","message_id":"x"}'
    raw.append((52, "prestacop.t.drone.d1.position", unknown, now_ns, None))
    invalid: Counter[str] = Counter()
    envs = decode_chunk("PRESTACOP_DRONES", raw, invalid)
    assert len(envs) == 50 and all(isinstance(e, Envelope) for e in envs)
    assert invalid == {"bad_json": 1, "unknown_type": 1}
    assert {e.tenant for e in envs} == {"t"}
