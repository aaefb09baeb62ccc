"""One force's drone floods the servers; the other force's drones are still acknowledged.

The issue's attack: about 1.9M core publishes in 6 s from one nypd drone made the shared
stream drop ingest, and lapd's acknowledged publishes fell from 140 ok in 3 s to 3 ok and
4 failed. Each force now has its own account, so its own streams and ingest queues, and
JetStream limits of its own: the flood fills nypd's stream (or is dropped by it), never
lapd's. Measured here against a baseline taken a moment before, in the same run.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from prestacop.adapters.publisher import PublishError
from prestacop.bootstrap import LogClient, open_log
from prestacop.domain import subjects
from tests.conftest import wait_until
from tests.security.conftest import Secured
from tests.security.test_isolation import count

FLOOD = Path(__file__).with_name("flood.py")


async def acked_for(client: LogClient, seconds: float) -> tuple[int, int, float]:
    """Publish one position after another for ``seconds``: (acked, failed, slowest ack s)."""
    ok = failed = 0
    slowest = 0.0
    subject = subjects.position("lapd", "victim")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        try:
            await client.publisher.publish_and_wait(subject, b'{"n":1}')
            ok += 1
        except PublishError:
            failed += 1
        slowest = max(slowest, time.monotonic() - started)
    return ok, failed, slowest


async def test_a_drones_flood_does_not_stop_another_forces_acks(
    secured: Secured, services: dict[str, LogClient], as_role: Callable[..., Path]
) -> None:
    victim = await open_log(
        secured.url,
        "victim",
        setup=False,
        ack_timeout=2.0,
        creds=as_role("lapd", "drone", "victim"),
    )
    before = await count(
        services["lapd"], subjects.DRONES.name, subjects.position("lapd", "victim")
    )
    baseline = await acked_for(victim, 3.0)  # before the flood
    flood = subprocess.Popen(  # noqa: ASYNC220 (a process of its own, read from a thread)
        [
            sys.executable,
            str(FLOOD),
            secured.url,
            str(as_role("nypd", "drone", "flood")),
            secured.ca,
            subjects.position("nypd", "flood"),
            "6",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert flood.stdout is not None
        assert await asyncio.to_thread(flood.stdout.readline) == "flooding\n"
        during = await acked_for(victim, 3.0)
        out, _ = await asyncio.to_thread(flood.communicate, timeout=120)
        sent = int(out.split()[-1])
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait()
        await victim.close()
    stored = await count(services["nypd"], subjects.DRONES.name, subjects.position("nypd", "flood"))
    print(
        f"flood: {sent} sent in 6 s, {stored} stored; lapd acks before {baseline}, during {during}"
    )
    assert sent > 100_000  # a flood indeed
    ok, failed, slowest = during
    # Every publish acknowledged, each within a second: the flow never stops. The rate falls
    # with CPU (two cores shared by the flooder, the servers and this test: 8,018 -> 422 in
    # 3 s on one node, 4,042 -> 108 on three in one run); with one account for both forces,
    # the same flood gave 31 ok and 2 failed.
    assert failed == 0, f"lapd lost acks during nypd's flood: {during} (before: {baseline})"
    assert slowest < 1.0, f"lapd's acks stalled: {during} (before: {baseline})"
    assert ok >= 30, f"lapd's acks nearly stopped: {during} (before: {baseline})"
    # the flooding force gets its own acks back once its stream has taken the flood in
    nypd = services["nypd"].publisher

    async def nypd_acked() -> bool:
        try:
            await nypd.publish_and_wait(subjects.position("nypd", "probe"), b"{}")
        except PublishError:
            return False
        return True

    await wait_until(nypd_acked, timeout=90, interval=0.5, what="nypd's stream back to normal")
    after = await count(services["lapd"], subjects.DRONES.name, subjects.position("lapd", "victim"))
    assert after - before == baseline[0] + ok  # every acked one is stored, nothing else
