"""The services on in-memory fakes of their ports: the alert desk, the console, the gate.

Fast (no server): the same behaviours are tested end to end on a real nats-server in
tests/integration and tests/e2e; the fakes are held to the real adapters by
tests/integration/test_port_contracts.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from prestacop.alerts.desk import AlertDesk
from prestacop.alerts.ports import ControlResult, FeedItem
from prestacop.domain import subjects
from prestacop.domain.alerts import AlertRefused
from prestacop.domain.events import AlertClaimed, OperatorDecisionRecorded
from prestacop.gate.service import Gate
from prestacop.operator_tui.app import ConsoleApp
from tests.conftest import wait_until
from tests.factories import position, violation, wire
from tests.unit.fakes import (
    FakeAlertLog,
    FakeImageStore,
    FakeJudgedLog,
    FakeLog,
    FakePublisher,
)

pytestmark = pytest.mark.timeout(30)
TENANT = "fakes"


class Control:
    def __init__(self) -> None:
        self.drones: list[str] = []

    async def take_over(self, drone_id: str) -> ControlResult:
        self.drones.append(drone_id)
        return ControlResult(("dronectl", drone_id), 0, "ok", "")


async def desk_on(log: FakeLog, officer: str, follow: bool = True) -> AlertDesk:
    desk = AlertDesk(FakeAlertLog(TENANT, log), officer, Control())
    if follow:
        await desk.log.follow(desk.apply, lambda state: None)
    return desk


async def test_a_claim_then_a_decision_reach_every_desk_following_the_log() -> None:
    log = FakeLog()
    a, b = await desk_on(log, "officer-a"), await desk_on(log, "officer-b")
    assert isinstance(a.log, FakeAlertLog)
    a.log.raise_alert(violation("a1"))
    await a.claim("a1")
    b_view = b.board.get("a1")
    assert b_view is not None and (b_view.status, b_view.holder) == ("claimed", "officer-a")
    with pytest.raises(AlertRefused, match="held by officer-a"):
        await b.claim("a1")
    decision = await a.resolve("a1", 14, "seen on image")
    assert isinstance(decision, OperatorDecisionRecorded)
    alert = b.board.get("a1")
    assert alert is not None and alert.status == "resolved" and alert.decision == decision


async def test_a_desk_that_has_not_seen_the_claim_is_refused_by_the_log_and_told_who() -> None:
    log = FakeLog()
    a = await desk_on(log, "officer-a")
    late = await desk_on(log, "officer-b", follow=False)
    assert isinstance(a.log, FakeAlertLog)
    seq = a.log.raise_alert(violation("a1"))
    [entry] = [e for e in log.read(subjects.ALERTS.name) if e.seq == seq]
    late.board.apply(violation("a1"), seq=seq, received_at=entry.received_at)
    await a.claim("a1")
    with pytest.raises(AlertRefused, match="refused: held by officer-a"):
        await late.claim("a1")


async def test_taking_control_runs_the_command_and_records_who_did_it() -> None:
    desk = await desk_on(FakeLog(), "officer-a")
    assert isinstance(desk.log, FakeAlertLog)
    desk.log.raise_alert(violation("a1", drone_id="drone-9"))
    await desk.claim("a1")
    result, not_recorded = await desk.take_control("a1")
    assert result.succeeded and not_recorded is None
    assert isinstance(desk.control, Control) and desk.control.drones == ["drone-9"]
    alert = desk.board.get("a1")
    assert alert is not None and [c.officer_id for c in alert.controls] == ["officer-a"]


async def wait_for(condition: Callable[[], object], pilot: object, what: str) -> None:
    """Let the app run until ``condition`` holds (a deadline, not a fixed sleep)."""
    deadline = asyncio.get_running_loop().time() + 5
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out: {what}"
        await pilot.pause()  # type: ignore[attr-defined]


async def test_the_console_shows_an_alert_and_claims_it_with_one_key(tmp_path) -> None:
    log = FakeLog()
    alert_log = FakeAlertLog(TENANT, log)
    alert_log.report_position(position("p1", drone_id="drone-7", battery_pct=54))
    seen: list[FeedItem] = []
    app = ConsoleApp(alert_log, "officer-a", Control(), image_dir=tmp_path, on_arrival=seen.append)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(lambda: app.feed_state == "live", pilot, "live")
        alert_log.raise_alert(violation("a1", drone_id="drone-7", plate="ABC1234"))
        await wait_for(lambda: app.selected == "a1", pilot, "alert listed and selected")
        await pilot.press("c")
        await wait_for(
            lambda: (a := app.desk.board.get("a1")) is not None and a.holder == "officer-a",
            pilot,
            "claimed",
        )
        on_alert = subjects.alert(TENANT, "a1", "officer-a")
        claims = [m for m in log.read(subjects.ALERTS.name) if m.subject == on_alert]
        assert len(claims) == 1
        assert isinstance(seen[-1].event, AlertClaimed)  # type: ignore[union-attr]
        table = app.query_one("#alerts")
        row = table.get_row_at  # type: ignore[attr-defined]
        await wait_for(lambda: "officer-a" in str(row(0)), pilot, "holder in the table")


def message(subject: str, body: dict[str, object], seq: int) -> SimpleNamespace:
    """What the gate reads of a JetStream message: subject, data and metadata."""
    meta = SimpleNamespace(
        timestamp=datetime.now(UTC),
        stream=subjects.DRONES.name,
        sequence=SimpleNamespace(stream=seq),
    )
    return SimpleNamespace(subject=subject, data=msgspec.json.encode(body), metadata=meta)


async def test_the_gate_sets_aside_a_violation_whose_image_is_missing_and_keeps_the_rest() -> None:
    images, publisher = FakeImageStore(), FakePublisher()
    gate = Gate(None, publisher, images)  # type: ignore[arg-type]
    gate.image_wait_s = 0.2  # how long a late image is waited for (3 s in service)
    await images.put(TENANT, "img-ok", b"png", "image/png")
    subject = subjects.violation(TENANT, "d1")
    good = message(subject, wire(violation("ok", code=21, image_id="img-ok")), 1)
    bad = message(subject, wire(violation("bad", code=21, image_id="img-gone")), 2)
    assert await gate.judge(good) is None  # type: ignore[arg-type]
    record = await gate.judge(bad)  # type: ignore[arg-type]
    assert record is not None and record.reason == "missing_image" and record.seq == 2
    await gate.quarantine(record)
    [stored] = publisher.log.read(subjects.QUARANTINE.name)
    assert stored.subject == subjects.quarantine(TENANT, subjects.DRONES.name)
    assert gate.counters.quarantined == {"missing_image": 1}


async def test_the_gate_acknowledges_each_message_only_after_its_verdict_is_stored() -> None:
    log = FakeLog()
    publisher, judged = FakePublisher(log), FakeJudgedLog(log)
    gate = Gate(judged, publisher, FakeImageStore(), batch=4)
    subject = subjects.position(TENANT, "d1")
    invalid: set[int] = set()
    for i in range(10):
        good = msgspec.json.encode(wire(position(f"p{i}", "d1")))
        stored = log.append(subject, b"not json" if i % 3 == 0 else good, f"p{i}", {})
        if i % 3 == 0:
            invalid.add(stored.seq)
    acked_after_verdict: list[bool] = []
    open_reader = judged.acked_reader

    async def watched_reader(*args: Any, **kwargs: Any) -> Any:
        reader = await open_reader(*args, **kwargs)
        ack = reader.ack

        async def checked_ack(msg: Any) -> None:  # an invalid one: its record stored first?
            if msg.seq in invalid:
                held = log.read(subjects.QUARANTINE.name)
                acked_after_verdict.append(
                    any(msgspec.json.decode(m.data)["seq"] == msg.seq for m in held)
                )
            await ack(msg)

        reader.ack = checked_ack  # type: ignore[method-assign]
        return reader

    judged.acked_reader = watched_reader  # type: ignore[method-assign]
    stop = asyncio.Event()
    running = asyncio.create_task(gate.run_stream(subjects.DRONES.name, stop))

    def all_acked() -> bool:
        c = judged.consumers.get((subjects.DRONES.name, gate.consumer))
        return c is not None and len(c.acked) == 10

    await wait_until(all_acked, timeout=5, what="every message acknowledged")
    stop.set()
    await asyncio.wait_for(running, 5)
    set_aside = [msgspec.json.decode(m.data)["seq"] for m in log.read(subjects.QUARANTINE.name)]
    assert sorted(set_aside) == sorted(invalid)  # each invalid one once, none valid
    assert acked_after_verdict == [True] * len(invalid)
    assert gate.counters.checked == 10
