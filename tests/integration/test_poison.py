"""Poison messages: each class is set aside by the gate with its reason, the gate and
the runner keep running, and the valid messages around it are projected."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import msgspec
import pytest

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.bootstrap import LogClient, run_gate
from prestacop.domain import subjects
from prestacop.gate.records import Quarantined
from prestacop.gate.service import GateCounters, read_quarantine
from prestacop.projections.catalog import BUILTINS
from tests.conftest import wait_until
from tests.projection_support import caught_up, namespace, projecting, rows

NOW = datetime.now(UTC)


def position(i: int, **overrides: object) -> bytes:
    body = {
        "type": "position",
        "message_id": f"p{i}",
        "v": 1,
        "drone_id": "d1",
        "time": NOW.isoformat(),
        "latitude": 40.7,
        "longitude": -73.9,
    }
    return msgspec.json.encode(body | overrides)


def violation(i: int, **overrides: object) -> bytes:
    body = {
        "type": "violation",
        "message_id": f"v{i}",
        "v": 1,
        "drone_id": "d1",
        "time": NOW.isoformat(),
        "latitude": 40.7,
        "longitude": -73.9,
        "violation_code": 21,
        "image_id": "img-nul",
    }
    return msgspec.json.encode(body | overrides)


NESTED = position(90)[:-1] + b', "extra": ' + b"[" * 1000 + b"]" * 1000 + b"}"
POISON = {  # name: (kind, payload, reason)
    "v0": ("position", position(91, v=0), "invalid_field"),
    "v-1": ("position", position(92, v=-1), "invalid_field"),
    "1000 nested [": ("position", NESTED, "bad_json"),
    "60 KB of control bytes": ("position", b"\x01" * 60_000, "bad_json"),
    "NUL in a plate": ("violation", violation(96, plate="AB\u0000CD"), "invalid_field"),
    # a time no time zone can show (New York's local day is in year 0): statistics died on it
    "time in year 1": ("violation", violation(93, time="0001-01-01T00:00:00Z"), "invalid_field"),
    "position in year 1": (
        "position",
        position(94, time="0001-01-01T00:00:00+14:00"),
        "invalid_field",
    ),
    # PostgreSQL's bigint stops at 2**63 - 1: violations dead-lettered it
    "source_line past bigint": ("violation", violation(95, source_line=2**63), "invalid_field"),
}


@pytest.fixture
def store(database_url: str) -> Iterator[ProjectionStore]:
    s = ProjectionStore(database_url, namespace())
    yield s
    s.close()


async def test_each_poison_class_is_set_aside_and_gate_and_runner_go_on(
    log: LogClient, nats_url: str, database_url: str, tenant: str, store: ProjectionStore
) -> None:
    await log.images.put(tenant, "img-nul", b"jpeg", "image/jpeg")
    acks, poison_at = [], {}
    for i, (name, (kind, payload, _)) in enumerate(POISON.items()):
        acks.append(
            await log.publisher.publish_and_wait(subjects.position(tenant, "d1"), position(i))
        )
        subject = (
            subjects.position(tenant, "d1")
            if kind == "position"
            else subjects.violation(tenant, "d1")
        )
        ack = await log.publisher.publish_and_wait(subject, payload)
        poison_at[ack.seq] = name
        acks.append(ack)
    acks.append(await log.publisher.publish_and_wait(subjects.position(tenant, "d1"), position(99)))
    valid_positions = len(POISON) + 1

    stop = asyncio.Event()
    gate = asyncio.create_task(run_gate(nats_url, stop, counters=GateCounters()))
    records: dict[int, Quarantined] = {}
    try:
        async with projecting(nats_url, database_url, store.namespace) as runner:

            async def all_set_aside() -> bool:
                records.update({r.seq: r for r in await read_quarantine(log.source, tenant)})
                return set(records) >= set(poison_at) or gate.done()

            await wait_until(all_set_aside, timeout=60, what="every poison set aside")
            await wait_until(
                lambda: caught_up(store, acks, *BUILTINS), timeout=30, what="views past the poison"
            )
            rejected = lambda: rows(  # noqa: E731
                store, f"SELECT seq FROM {store.namespace}.rejected WHERE tenant = %s", tenant
            )
            await wait_until(
                lambda: len(rejected()) == len(POISON) or runner.done(),
                timeout=30,
                what="rejected view",
            )
            assert not gate.done() and not runner.done()
    finally:
        stop.set()
        await asyncio.wait_for(gate, 20)

    for seq, name in poison_at.items():
        assert records[seq].reason == POISON[name][2], name
    oversized = records[next(s for s, n in poison_at.items() if n.startswith("60 KB"))]
    assert oversized.truncated and oversized.size == 60_000 and "sha256" in oversized.detail
    assert sorted(r["seq"] for r in rejected()) == sorted(poison_at)
    ns = store.namespace
    drones = rows(store, f"SELECT positions, violations FROM {ns}.drones WHERE tenant = %s", tenant)
    assert drones == [{"positions": valid_positions, "violations": 0}]
    assert rows(store, f"SELECT 1 FROM {ns}.violations WHERE tenant = %s", tenant) == []
    assert rows(store, f"SELECT 1 FROM {ns}.statistics WHERE tenant = %s", tenant) == []
    for name in BUILTINS:
        build = store.live(name)
        assert build is not None
        dead = rows(
            store, f'SELECT seq FROM "{build.schema}".dead_letters WHERE tenant = %s', tenant
        )
        assert dead == [], f"{name} dead-lettered {dead}"
