"""The views agree with one another and with the gate on a random log with late resends
(same message id, outside the de-duplication window), poison, decisions and violations
whose image never came: every event counts once, and what the gate sets aside never."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.adapters.publisher import PubAck
from prestacop.bootstrap import LogClient, rebuild_projections
from prestacop.domain import subjects
from prestacop.gate.service import LIVE_STREAMS, Gate, read_quarantine
from prestacop.projections.catalog import BUILTINS
from prestacop.projections.runner import RunnerOptions
from prestacop.projections.sample_log import sample_events
from tests.conftest import wait_until
from tests.projection_support import caught_up, namespace, projecting, publish, rows

MESSAGES = 4_000


@pytest.fixture
def store(database_url: str) -> Iterator[ProjectionStore]:
    s = ProjectionStore(database_url, namespace())
    yield s
    s.close()


def poison(tenant: str, rnd: random.Random, i: int) -> tuple[str, bytes, str]:
    subject = subjects.violation(tenant, "d1")
    body = {
        "type": "violation",
        "message_id": f"poison-{i}",
        "v": 1,
        "drone_id": "d1",
        "time": "2026-01-01T00:00:00Z",
        "latitude": 40.7,
        "longitude": -73.9,
        "violation_code": 21,
        "image_id": "img",
    }
    kind = rnd.choice(["nul", "v0", "json", "nested"])
    if kind == "nul":
        data = msgspec.json.encode(body | {"plate": "AB\u0000CD"})
    elif kind == "v0":
        data = msgspec.json.encode(body | {"v": 0})
    elif kind == "json":
        data = b'{"type": "violation", "message_id": '
    else:
        data = msgspec.json.encode(body)[:-1] + b', "x": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    return subject, data, f"poison-{i}"


async def judge_with_the_gate(log: LogClient, tenant: str) -> None:
    """The gate's verdicts on the tenant's live messages, recorded as the gate records them
    (its own consumer is shared by the module's log: the other tests' messages are not ours)."""
    gate = Gate(log.source, log.publisher, log.images)
    gate.image_wait_s = 0.0  # the images that came, came before
    for stream in LIVE_STREAMS:
        sub = await log.js.pull_subscribe(
            f"{subjects.ROOT}.{tenant}.>",
            stream=stream,
            config=ConsumerConfig(ack_policy=AckPolicy.NONE),
        )
        try:
            while (await sub.consumer_info()).num_pending:  # not a wait for a silence
                msgs = await sub.fetch(500, timeout=10.0)
                for record in await asyncio.gather(*(gate.judge(m) for m in msgs)):
                    if record is not None:
                        await gate.quarantine(record)
        finally:
            await sub.unsubscribe()


def view_state(store: ProjectionStore, tenant: str) -> dict[str, Any]:
    """What the four views hold for the tenant, in a comparable form."""
    ns = store.namespace
    q = {
        "statistics": f"SELECT dimension, key, violations, fines FROM {ns}.statistics"
        " WHERE tenant = %s ORDER BY 1, 2",
        "violations": f"SELECT violation_id, code, status FROM {ns}.violations"
        " WHERE tenant = %s ORDER BY 1",
        "decisions": f"SELECT violation_id, decision_id FROM {ns}.violation_decisions"
        " WHERE tenant = %s ORDER BY 1, 2",
        "drones": f"SELECT drone_id, violations, messages, last_seen_at, positions"
        f" FROM {ns}.drones WHERE tenant = %s ORDER BY 1",
        "alerts": f"SELECT alert_id, is_review, status, seq, steps, image_id FROM {ns}.alerts"
        " WHERE tenant = %s ORDER BY 1",
    }
    return {name: rows(store, query, tenant) for name, query in q.items()}


def every_row(store: ProjectionStore, tenant: str, names: tuple[str, ...]) -> dict[str, Any]:
    """Every row of every table of the views ``names`` for the tenant, all columns: what a
    rebuild must reproduce exactly, however its writes are done. Not the ``*_seen`` tables:
    they list the ids a view has counted, and a violation set aside before it was read is
    never counted (live, its record came after it; a rebuild may read the record first)."""
    out = {}
    for name in names:
        schema = store.live(name)
        assert schema is not None
        for table in BUILTINS[name].tables:
            if table.endswith("_seen"):
                continue
            found = rows(
                store, f'SELECT * FROM "{schema.schema}".{table} WHERE tenant = %s', tenant
            )
            out[f"{name}.{table}"] = sorted(found, key=repr)
    return out


@pytest.mark.parametrize("seed", [7, 1234])
async def test_statistics_violations_and_drones_agree_on_a_random_log(
    log: LogClient, nats_url: str, database_url: str, tenant: str, store: ProjectionStore, seed: int
) -> None:
    """...and with the gate: a violation whose image never came is set aside by the gate
    and counted by no view, whether its record is read after it (live) or in any order
    (a rebuild); a decision resent later is one row."""
    rnd = random.Random(seed)
    events = list(sample_events(tenant, MESSAGES, seed=seed))
    decoded = [msgspec.json.decode(d) for s, d, m in events]
    imaged = [e for e in decoded if e.get("image_id")]
    uploaded = {e["image_id"] for e in imaged if rnd.random() < 0.9}  # one in ten never comes
    for image_id in uploaded:
        await log.images.put(tenant, image_id, b"jpeg " + image_id.encode(), "image/jpeg")
    items: list[tuple[str, bytes, str]] = []
    for i, (subject, data, mid) in enumerate(events):
        items.append((subject, data, mid))
        if rnd.random() < 0.1:  # a resend, now or much later: a new Nats-Msg-Id
            at = rnd.randrange(len(items), len(items) + 2_000)
            items.insert(min(at, len(items)), (subject, data, f"{mid}-late{i}"))
        if rnd.random() < 0.02:
            items.append(poison(tenant, rnd, i))
    acks = await publish(log, items)
    names = ("statistics", "violations", "drones", "alerts")
    options = RunnerOptions(batch=400, chunk=100)
    async with projecting(nats_url, database_url, store.namespace, names, options=options):
        await wait_until(lambda: caught_up(store, acks, *names), timeout=60, what="caught up")
        await judge_with_the_gate(log, tenant)  # its records come after the views counted
        head = (await log.js.stream_info(subjects.QUARANTINE.name)).state.last_seq
        verdicts = [*acks, PubAck(subjects.QUARANTINE.name, head)]
        await wait_until(lambda: caught_up(store, verdicts, *names), timeout=60, what="verdicts")

    never = {e["message_id"] for e in imaged if e["image_id"] not in uploaded}
    records = await read_quarantine(log.source, tenant)
    assert {r.message_id for r in records if r.reason == "missing_image"} == never
    ns = store.namespace
    sent = [e for e in decoded if e["type"] == "violation" and e["message_id"] not in never]
    assert 0 < len(never) < len(sent)
    decisions = [e for e in decoded if e["type"] == "decision"]
    (stats,) = rows(
        store,
        f"SELECT sum(violations) AS n FROM {ns}.statistics"
        " WHERE tenant = %s AND dimension = 'code'",
        tenant,
    )
    (viol,) = rows(store, f"SELECT count(*) AS n FROM {ns}.violations WHERE tenant = %s", tenant)
    (drones,) = rows(
        store, f"SELECT sum(violations) AS n FROM {ns}.drones WHERE tenant = %s", tenant
    )
    assert stats["n"] == viol["n"] == drones["n"] == len(sent)
    (decided,) = rows(
        store,
        f"SELECT sum(violations) AS n FROM {ns}.statistics"
        " WHERE tenant = %s AND dimension = 'decision'",
        tenant,
    )
    assert decided["n"] == len(decisions)
    (stored,) = rows(
        store, f"SELECT count(*) AS n FROM {ns}.violation_decisions WHERE tenant = %s", tenant
    )
    assert stored["n"] == len(decisions)  # a decision resent later is not a second row
    (steps,) = rows(store, f"SELECT sum(steps) AS n FROM {ns}.alerts WHERE tenant = %s", tenant)
    assert steps["n"] == sum(1 for e in decoded if e["type"] in ("alert.claimed", "decision"))
    reviews = {e["message_id"] for e in imaged if e["violation_code"] == 0}
    shown = rows(store, f"SELECT alert_id FROM {ns}.alerts WHERE tenant = %s AND is_review", tenant)
    assert {r["alert_id"] for r in shown} == reviews - never and reviews & never

    live = view_state(store, tenant)
    live_rows = every_row(store, tenant, names)
    await rebuild_projections(nats_url, database_url, list(names), namespace=ns, options=options)
    assert view_state(store, tenant) == live  # the records read in another order: same views
    rebuilt = every_row(store, tenant, names)
    assert rebuilt.keys() == live_rows.keys()
    differ = [table for table, before in live_rows.items() if rebuilt[table] != before]
    assert not differ  # row for row, column for column
