"""The views agree with one another on a random log with late resends (same message id,
outside the de-duplication window), poison and decisions: every event counts once."""

from __future__ import annotations

import random
from collections.abc import Iterator

import msgspec
import pytest

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.bootstrap import LogClient
from prestacop.domain import subjects
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


@pytest.mark.parametrize("seed", [7, 1234])
async def test_statistics_violations_and_drones_agree_on_a_random_log(
    log: LogClient, nats_url: str, database_url: str, tenant: str, store: ProjectionStore, seed: int
) -> None:
    rnd = random.Random(seed)
    events = list(sample_events(tenant, MESSAGES, seed=seed))
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

    ns = store.namespace
    decoded = [msgspec.json.decode(d) for s, d, m in events]
    sent = [e for e in decoded if e["type"] == "violation"]
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
    (steps,) = rows(store, f"SELECT sum(steps) AS n FROM {ns}.alerts WHERE tenant = %s", tenant)
    assert steps["n"] == sum(1 for e in decoded if e["type"] in ("alert.claimed", "decision"))
