"""A secured runtime (operator mode, one account per force) with two forces, nypd and lapd.

Each attack of issue 9 is replayed here with the credentials of the role that tried it,
on one node and again on the 3-node cluster (``secured`` is parametrized; the cluster is
started once for the session, its streams R3).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from nats.js.errors import ServiceUnavailableError

from prestacop.adapters.topology import TopologyOptions
from prestacop.bootstrap import LogClient, add_tenant, open_log
from prestacop.runtime.cluster import EmbeddedCluster
from prestacop.runtime.embedded import EmbeddedRuntime
from prestacop.security.authority import Authority, Role
from tests.conftest import wait_until

FORCES = ("nypd", "lapd")
T = TypeVar("T")


@dataclass
class Secured:
    url: str
    home: Path
    runtime: EmbeddedRuntime | EmbeddedCluster

    @property
    def ca(self) -> str:
        assert self.runtime.urls is not None and self.runtime.urls.nats_ca
        return self.runtime.urls.nats_ca

    @property
    def authority(self) -> Authority:
        return Authority(self.home)

    def creds(self, tenant: str, role: Role, ident: str = "") -> Path:
        path = self.home / f"{tenant}-{role}-{ident}.creds"
        path.write_text(self.authority.issue(tenant, role, ident))
        return path


@contextmanager
def trusting(ca: str) -> Iterator[None]:
    """NATS_CA set for the connections opened in the block only (others stay plain)."""
    saved = os.environ.get("NATS_CA")
    os.environ["NATS_CA"] = ca
    try:
        yield
    finally:
        if saved is None:
            del os.environ["NATS_CA"]
        else:
            os.environ["NATS_CA"] = saved


@asynccontextmanager
async def own_runtime(prefix: str, forces: Iterable[str]) -> AsyncIterator[EmbeddedRuntime]:
    """A secured nats-server of its own in a fresh home with ``forces`` added; stopped and
    its home removed after the block."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    rt = EmbeddedRuntime(home, postgres=False, secure=True)
    urls = rt.start()
    assert urls.nats_ca
    try:
        with trusting(urls.nats_ca):
            for force in forces:
                await add_tenant(urls.nats_url, home, force)
        yield rt
    finally:
        rt.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster() -> Iterator[EmbeddedCluster]:
    """Three secured nats-servers (TLS routes with a password), shared by the session."""
    home = Path(tempfile.mkdtemp(prefix="prestacop-cluster-"))
    c = EmbeddedCluster(home, 3)
    c.start()
    yield c
    c.stop()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session", params=["one-node", "three-nodes"])
async def secured(request: pytest.FixtureRequest) -> AsyncIterator[Secured]:
    if request.param == "three-nodes":
        c: EmbeddedCluster = request.getfixturevalue("cluster")
        assert c.urls is not None and c.urls.nats_ca
        with trusting(c.urls.nats_ca):
            for force in FORCES:
                await add_tenant(c.nats_url, c.home, force, topology=TopologyOptions(replicas=3))
        yield Secured(c.nats_url, c.home, c)
        return
    async with own_runtime("prestacop-secured-", FORCES) as rt:
        assert rt.urls is not None
        yield Secured(rt.urls.nats_url, rt.home, rt)


@pytest.fixture(autouse=True)
def trust_the_secured_ca(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests on the secured runtime connect with TLS to its CA (others stay plain)."""
    if "secured" in request.fixturenames:
        secured: Secured = request.getfixturevalue("secured")
        monkeypatch.setenv("NATS_CA", secured.ca)


@pytest.fixture(scope="session")
async def services(secured: Secured) -> AsyncIterator[dict[str, LogClient]]:
    """Each force's services, connected with that force's service credentials."""
    with trusting(secured.ca):
        clients = {
            f: await open_log(
                secured.url, f"svc-{f}", setup=False, creds=secured.authority.service_creds(f)
            )
            for f in FORCES
        }
    yield clients
    for client in clients.values():
        await client.close()


@pytest.fixture
def as_role(secured: Secured) -> Iterator[Callable[..., Path]]:
    yield secured.creds


async def refused(
    caplog: pytest.LogCaptureFixture, subject: str, attempt: Awaitable[object]
) -> None:
    """``attempt`` is refused: it fails, or the server says the connection may not publish
    on ``subject`` (a prefix of it will do). The server's refusal reaches the connection's
    error callback, not the request, which would only time out: waiting for that timeout
    cost each refusal seconds, on one node and again on three."""
    # where the connection's error callback says it (a command run earlier may have quietened it)
    caplog.set_level(logging.WARNING, logger="prestacop.adapters.nats_connection")
    task = asyncio.ensure_future(attempt)
    said = f'permissions violation for publish to "{subject}'.lower()

    def denied() -> bool:
        return task.done() or any(said in r.getMessage().lower() for r in caplog.records)

    try:
        await wait_until(denied, timeout=15, what=f"a refusal on {subject}")
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    if not task.cancelled():
        assert task.exception() is not None, f"not refused: {subject} -> {task.result()!r}"


async def settled(call: Callable[[], Awaitable[T]], timeout: float = 15) -> T:
    """``call()``'s answer once the cluster has one: on three nodes a consumer or stream just
    made may answer 503 ("JetStream system temporarily unavailable") until its group has
    elected a leader; that is waited out, anything else is raised."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await call()
        except ServiceUnavailableError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)
