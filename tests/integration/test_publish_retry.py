"""A 503 (no responders: no stream leader during a failover) is "try again": the SDK
resends the same bytes under the same message id, and the log stores the event once.

A fresh nats-server whose streams appear only after the first attempts stands in for
a cluster whose stream leader is being elected: both answer 503 until it is back.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from prestacop.adapters.publisher import NoStreamError, PublishRejected, is_transient
from prestacop.adapters.topology import ensure_topology
from prestacop.bootstrap import LogClient, open_log
from prestacop.domain import subjects
from prestacop.drone import DroneClient
from prestacop.runtime.embedded import EmbeddedRuntime


@pytest.fixture
async def bare_log() -> AsyncIterator[LogClient]:
    """A nats-server of its own, without PrestaCop's streams yet."""
    home = Path(tempfile.mkdtemp(prefix="prestacop-503-"))
    # open (explicitly): no streams at all, which a force's account setup would create
    rt = EmbeddedRuntime(home, postgres=False, secure=False)
    urls = rt.start()
    client = await open_log(urls.nats_url, "tests-503", setup=False)
    yield client
    await client.close()
    rt.stop()
    shutil.rmtree(home, ignore_errors=True)


async def test_a_503_during_failover_is_retried_with_the_same_message_id(
    bare_log: LogClient,
) -> None:
    drone = await DroneClient("nypd", "d1", log=bare_log).connect()
    with pytest.raises(NoStreamError):  # what a drone that does not retry sees
        await bare_log.publisher.publish_and_wait(subjects.position("nypd", "d1"), b"{}")

    sending = asyncio.ensure_future(drone.report_position(40.7, -73.9, message_id="m-503"))
    await asyncio.sleep(0.3)  # the leader comes back while the drone is resending
    assert not sending.done()
    await ensure_topology(bare_log.js)
    ack = await asyncio.wait_for(sending, 10)

    assert ack.stream == subjects.DRONES.name and not ack.duplicate
    info = await bare_log.js.stream_info(subjects.DRONES.name)
    assert info.state.messages == 1
    stored = await bare_log.js.get_msg(subjects.DRONES.name, ack.seq)
    assert stored.headers is not None and stored.headers["Nats-Msg-Id"] == "m-503"


def test_only_try_again_answers_are_retried() -> None:
    assert is_transient(NoStreamError("503"))
    assert is_transient(PublishRejected(503, 10008, "JetStream system temporarily unavailable"))
    assert not is_transient(PublishRejected(400, 10054, "message size exceeds maximum allowed"))
