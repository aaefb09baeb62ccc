"""Replay checkpoints describe one log: a file replayed into server A, then into a fresh
server B, lands whole in B; a lost state directory after the de-duplication window
does not store any ticket twice (the log keeps its own record of each file)."""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from prestacop import bootstrap
from prestacop.adapters.topology import TopologyOptions, ensure_topology
from prestacop.bootstrap import LogClient, open_log
from prestacop.bootstrap import replayer as Replayer
from prestacop.runtime.embedded import EmbeddedRuntime
from tests.conftest import wait_until
from tests.integration.test_nypd_replay import good_ids, held, options, ticket_file

DEDUP_S = 0.5


@pytest.fixture
async def server_b(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LogClient]:
    """A fresh nats-server whose history stream forgets message ids after half a second
    (every client that sets the topology up keeps it so)."""
    short = functools.partial(ensure_topology, opts=TopologyOptions(history_dedup_s=DEDUP_S))
    monkeypatch.setattr(bootstrap, "ensure_topology", short)
    home = Path(tempfile.mkdtemp(prefix="prestacop-b-"))
    # open (explicitly): a server of its own, with a topology unlike the session's
    rt = EmbeddedRuntime(home, postgres=False, secure=False)
    urls = rt.start()
    client = await open_log(urls.nats_url, "tests-b")
    yield client
    await client.close()
    rt.stop()
    shutil.rmtree(home, ignore_errors=True)


def url(log: LogClient) -> str:
    return log.nc.connected_url.geturl()


async def test_a_file_replayed_into_a_then_a_fresh_b_lands_whole_in_b(
    log: LogClient, server_b: LogClient, tenant: str, tmp_path: Path
) -> None:
    path = str(ticket_file(tmp_path / "t.csv", 2000))
    expected = good_ids(path, tenant)
    into_a = await Replayer(url(log), options(tmp_path, tenant)).run([path])
    assert into_a.ok and into_a.events == len(expected)

    into_b = await Replayer(url(server_b), options(tmp_path, tenant)).run([path])  # same state

    assert into_b.ok and not into_b.files[0]["already_done"]
    count, ids = await held(server_b, tenant)
    assert count == len(ids) == len(expected) and ids == expected


async def test_a_lost_state_dir_after_the_dedup_window_stores_no_ticket_twice(
    server_b: LogClient, tenant: str, tmp_path: Path
) -> None:
    path = str(ticket_file(tmp_path / "t.csv", 2000))
    expected = good_ids(path, tenant)
    first = await Replayer(url(server_b), options(tmp_path / "one", tenant)).run([path])
    assert first.ok and first.events == len(expected)
    finished = time.monotonic()
    await wait_until(lambda: time.monotonic() > finished + 2 * DEDUP_S, what="window passed")

    again = await Replayer(url(server_b), options(tmp_path / "two", tenant)).run([path])

    assert again.ok
    count, ids = await held(server_b, tenant)
    assert count == len(ids) == len(expected), f"{count - len(ids)} tickets stored twice"
