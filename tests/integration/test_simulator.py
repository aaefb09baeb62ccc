"""The simulator against a real nats-server: what it flies is what the log stores."""

from __future__ import annotations

import asyncio
import re

from nats.aio.msg import Msg
from typer.testing import CliRunner

from prestacop.bootstrap import LogClient
from prestacop.cli.main import app
from prestacop.domain import codec, subjects
from prestacop.domain.events import HUMAN_REVIEW_CODE, PositionReported, ViolationReported
from prestacop.simulator import SimulationOptions, Simulator


async def stored(log: LogClient, stream: str, subject: str) -> list[Msg]:
    """Every message of ``stream`` on ``subject`` (wildcards allowed), oldest first."""
    info = await log.js.stream_info(stream, subjects_filter=subject)
    total = sum((info.state.subjects or {}).values())
    sub = await log.js.subscribe(subject, stream=stream, ordered_consumer=True)
    try:
        return [await sub.next_msg(timeout=5) for _ in range(total)]
    finally:
        await sub.unsubscribe()


def decoded(msgs: list[Msg]) -> list[codec.AnyEvent]:
    return [codec.decode(m.subject, m.data, m.metadata.timestamp) for m in msgs]


async def test_the_simulated_fleet_lands_every_report_in_the_log(
    log: LogClient, tenant: str
) -> None:
    options = SimulationOptions(
        drones=4, rate_hz=25.0, violation_ratio=0.5, review_ratio=0.3, seed=11, tenant=tenant
    )
    sim = Simulator(log, options)
    stats = await sim.run(asyncio.Event(), duration=1.0)

    assert stats.failures == 0, stats.last_error
    assert stats.positions_acked == stats.positions_sent >= 90
    positions = decoded(
        await stored(log, "PRESTACOP_DRONES", f"prestacop.{tenant}.drone.*.position")
    )
    assert len(positions) == stats.positions_sent
    assert all(isinstance(p, PositionReported) for p in positions)
    assert {p.drone_id for p in positions} == {"sim-000", "sim-001", "sim-002", "sim-003"}
    assert all(40.4 < p.latitude < 41.0 and p.battery_pct is not None for p in positions)

    violations = decoded(
        await stored(log, subjects.DRONES.name, f"prestacop.{tenant}.drone.*.violation")
    )
    reviews = decoded(await stored(log, subjects.ALERTS.name, f"prestacop.{tenant}.review.*"))
    assert len(violations) + len(reviews) == stats.violations_acked == stats.violations_sent
    assert violations and reviews and len(reviews) == stats.reviews_acked
    assert all(isinstance(r, ViolationReported) for r in reviews)
    assert {r.violation_code for r in reviews} == {HUMAN_REVIEW_CODE}
    for event in [*violations[:5], *reviews[:5]]:
        assert isinstance(event, ViolationReported) and event.image_id and event.plate
        image = await log.images.get(tenant, event.image_id)
        assert image is not None and image.startswith(b"\x89PNG")


async def test_the_simulator_stops_when_asked(log: LogClient, tenant: str) -> None:
    sim = Simulator(log, SimulationOptions(drones=2, rate_hz=5.0, tenant=tenant))
    stop = asyncio.Event()
    running = asyncio.create_task(sim.run(stop))
    await asyncio.sleep(0)  # let it start flying
    stop.set()
    stats = await asyncio.wait_for(running, timeout=5)
    assert stats.positions_acked == stats.positions_sent


def test_prestacop_simulate_flies_and_reports_what_was_stored(
    nats_url: str, tenant: str, monkeypatch
) -> None:
    monkeypatch.setenv("NATS_URL", nats_url)
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--drones",
            "3",
            "--rate",
            "10",
            "--duration",
            "0.5",
            "--tenant",
            tenant,
            "--seed",
            "1",
            "--violation-ratio",
            "0.3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "3 drones over New York" in result.output
    sent = re.search(r"positions (\d+)/(\d+) acked", result.output)
    assert sent and sent[1] == sent[2] and int(sent[1]) >= 10


def test_prestacop_simulate_refuses_a_bad_tenant(nats_url: str, monkeypatch) -> None:
    monkeypatch.setenv("NATS_URL", nats_url)
    result = CliRunner().invoke(app, ["simulate", "--tenant", "Bad Tenant", "--duration", "0"])
    assert result.exit_code == 2
    assert "tenant" in result.output
