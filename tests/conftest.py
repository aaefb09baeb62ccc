"""Real servers for the whole session: a nats-server with JetStream and a PostgreSQL.

Both are started on free ports / sockets in temporary folders and stopped at the
end. Tests isolate themselves by tenant (``tenant`` fixture), not by server; each test
module has a log of its own (``log_account``: its own NATS account, so its own streams).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
from nats.errors import Error as NatsError

from prestacop.adapters.topology import ensure_topology
from prestacop.bootstrap import LogClient, add_tenant, open_log
from prestacop.runtime.embedded import EmbeddedRuntime, RuntimeUrls
from prestacop.security.authority import Authority

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


OPEN = os.environ.get("PRESTACOP_TEST_OPEN") == "1"
"""The session's servers are secured as in production (operator mode, accounts, TLS, creds);
``PRESTACOP_TEST_OPEN=1`` runs them open instead, only to measure what security costs."""
TESTS_ACCOUNT = "tests"
"""The session's force account; each test module then works in one of its own (``log_account``),
and every test's own tenant (``tenant``) lives in its subjects."""


@pytest.fixture(scope="session")
def runtime() -> Iterator[EmbeddedRuntime]:
    """The secured runtime, as in production: operator mode, TLS, the suite's connections
    made with a force's service credentials (``NATS_CREDS``/``NATS_CA`` for the session, so
    the commands the tests start use them too)."""
    # Not under pytest's basetemp: a concurrent pytest session may prune that folder.
    home = Path(tempfile.mkdtemp(prefix="prestacop-tests-"))
    if OPEN:  # measuring only: see OPEN
        rt = EmbeddedRuntime(home)
        rt.start()
        yield rt
        rt.stop()
        shutil.rmtree(home, ignore_errors=True)
        return
    rt = EmbeddedRuntime(home, secure=True)
    urls = rt.start()
    saved = {k: os.environ.get(k) for k in ("NATS_CREDS", "NATS_CA")}
    try:
        assert urls.nats_ca
        os.environ["NATS_CA"] = urls.nats_ca
        os.environ.pop("NATS_CREDS", None)
        with ThreadPoolExecutor(1) as pool:  # no event loop of the tests' is running it
            pool.submit(asyncio.run, add_tenant(urls.nats_url, home, TESTS_ACCOUNT)).result()
        os.environ["NATS_CREDS"] = str(Authority(home).service_creds(TESTS_ACCOUNT))
        yield rt
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
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


@pytest.fixture(scope="module")
def log_account(runtime: EmbeddedRuntime) -> Iterator[str]:
    """A NATS account of the module's own, its service credentials in ``NATS_CREDS`` for the
    module: its streams hold the module's events only. A runner that builds views from the
    first message then reads those, not every earlier test's (a cost that grew with the
    suite: 71-90 s for one rebuild late in the session). Pushing an account takes ~40 ms."""
    if OPEN:  # no accounts on an open server: the one shared log
        yield ""
        return
    assert runtime.urls is not None
    name = "m" + uuid.uuid4().hex[:12]
    push = partial(add_tenant, runtime.urls.nats_url, runtime.home, name)
    with ThreadPoolExecutor(1) as pool:  # no event loop of the tests' is running it
        for attempt in range(3):  # idempotent: once in ~60 modules a loaded server dropped
            try:  # the new account's first connection mid-request (a 30 s timeout)
                pool.submit(asyncio.run, push()).result()
                break
            except (TimeoutError, NatsError) as e:
                if attempt == 2:
                    raise
                logging.getLogger(__name__).warning("account %s: %r, adding it again", name, e)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NATS_CREDS", str(Authority(runtime.home).service_creds(name)))
        yield name


@pytest.fixture(autouse=True)
def _module_log(request: pytest.FixtureRequest) -> None:
    """Every test on the session's servers works in its module's account (``log_account``)."""
    if "runtime" in request.fixturenames:
        request.getfixturevalue("log_account")


@pytest.fixture(scope="module")
async def log(nats_url: str, log_account: str) -> AsyncIterator[LogClient]:
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
