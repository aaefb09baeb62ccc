"""Real servers for the whole session: a nats-server with JetStream and a PostgreSQL.

Both are started on free ports / sockets in temporary folders and stopped at the
end. Tests isolate themselves by tenant (``tenant`` fixture), not by server.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from prestacop.adapters.topology import ensure_topology
from prestacop.bootstrap import LogClient, open_log
from prestacop.runtime.embedded import EmbeddedRuntime, RuntimeUrls

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def runtime() -> Iterator[EmbeddedRuntime]:
    # Not under pytest's basetemp: a concurrent pytest session may prune that folder.
    home = Path(tempfile.mkdtemp(prefix="prestacop-tests-"))
    rt = EmbeddedRuntime(home)
    rt.start()
    yield rt
    rt.stop()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def urls(runtime: EmbeddedRuntime) -> RuntimeUrls:
    assert runtime.urls is not None
    return runtime.urls


@pytest.fixture(scope="session")
def nats_url(urls: RuntimeUrls) -> str:
    return urls.nats_url


@pytest.fixture(scope="session")
def database_url(urls: RuntimeUrls) -> str:
    assert urls.database_url is not None
    return urls.database_url


@pytest.fixture(scope="session")
async def log(nats_url: str) -> AsyncIterator[LogClient]:
    client = await open_log(nats_url, "tests")
    await ensure_topology(client.js)
    yield client
    await client.close()


@pytest.fixture
def tenant() -> str:
    """A tenant of its own for each test: the log and the views are shared, tenants are not."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


async def wait_until(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
) -> None:
    """Wait for a condition with a deadline (never a bare sleep as synchronisation)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
