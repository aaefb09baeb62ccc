"""The services serve every force from that force's own account: one connection per force."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from prestacop import bootstrap
from prestacop.bootstrap import Connection, LogClient
from prestacop.config import Settings
from prestacop.domain import subjects
from prestacop.gate.service import GateCounters
from prestacop.runtime.embedded import RuntimeUrls
from tests.conftest import wait_until
from tests.security.conftest import FORCES, Secured
from tests.security.test_isolation import count


def test_a_home_with_forces_gives_a_connection_per_force(
    secured: Secured, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("NATS_CREDS", raising=False)  # the operator's machine: no user given
    cfg = Settings(home=secured.home)
    urls = RuntimeUrls(secured.url, None, 0)
    each = bootstrap.forces(cfg, urls)
    assert [c.tenant for c in each] == sorted(FORCES)
    assert all(c.creds == secured.authority.service_creds(c.tenant or "") for c in each)
    assert [c.tenant for c in bootstrap.forces(cfg, urls, "lapd")] == ["lapd"]
    open_home = bootstrap.forces(Settings(home=tmp_path), urls)  # an open server's home
    assert open_home == [Connection(secured.url)]


async def test_one_gate_per_force_sets_aside_each_forces_bad_messages(
    secured: Secured, services: dict[str, LogClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NATS_CREDS", raising=False)
    counters = GateCounters()
    each = bootstrap.forces(Settings(home=secured.home), RuntimeUrls(secured.url, None, 0))
    stop = asyncio.Event()
    gates = asyncio.create_task(
        bootstrap.each_force(lambda c: bootstrap.gate(c, counters), each)(stop)
    )
    drone = "d-" + uuid.uuid4().hex[:8]
    try:
        for force in FORCES:
            await services[force].publisher.publish_and_wait(
                subjects.position(force, drone), b"not json"
            )
        for force in FORCES:
            where = subjects.quarantine(force, subjects.DRONES.name)

            async def set_aside(force: str = force, where: str = where) -> bool:
                return await count(services[force], subjects.QUARANTINE.name, where) > 0

            await wait_until(set_aside, timeout=30, what=f"{force}'s bad message set aside")
    finally:
        stop.set()
        await asyncio.wait_for(gates, 30)
    assert counters.checked >= 2
