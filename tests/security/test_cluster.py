"""The 3-node secured cluster: routes need TLS and the route password; a node lost during
ingest loses no acknowledged message; the forces stay sealed on three nodes too."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.errors import Error as NatsError
from nats.js.errors import APIError

from prestacop.adapters.nats_connection import servers_of
from prestacop.adapters.publisher import AckTimeout, PublishError
from prestacop.adapters.topology import TopologyOptions
from prestacop.bootstrap import Connection, LogClient, add_tenant, open_log, setup_topology
from prestacop.domain import subjects
from prestacop.runtime.cluster import EmbeddedCluster
from prestacop.runtime.embedded import free_port, nats_server_binary
from prestacop.security.authority import Authority
from tests.conftest import wait_until
from tests.security.conftest import settled, trusting

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def forces(cluster: EmbeddedCluster) -> AsyncIterator[dict[str, LogClient]]:
    assert cluster.urls is not None and cluster.urls.nats_ca
    with trusting(cluster.urls.nats_ca):
        clients = {}
        for force in ("nypd", "lapd"):
            await add_tenant(
                cluster.nats_url, cluster.home, force, topology=TopologyOptions(replicas=3)
            )
            clients[force] = await open_log(
                cluster.nats_url,
                f"svc-{force}",
                setup=False,
                ack_timeout=2.0,
                creds=Authority(cluster.home).service_creds(force),
            )
    yield clients
    for client in clients.values():
        await client.close()


def test_a_node_list_is_a_comma_separated_url() -> None:
    assert servers_of("nats://a:1, nats://b:2,") == ["nats://a:1", "nats://b:2"]


async def test_every_stream_of_a_force_is_replicated_three_times(
    forces: dict[str, LogClient], cluster: EmbeddedCluster
) -> None:
    for info in await settled(forces["nypd"].js.streams_info):
        assert info.config.num_replicas == 3, info.config.name
    # `prestacop setup` without --replicas updates the streams but keeps them R3
    assert cluster.urls is not None and cluster.urls.nats_ca
    with trusting(cluster.urls.nats_ca):
        done = await setup_topology(
            Connection(cluster.nats_url, creds=Authority(cluster.home).service_creds("nypd"))
        )
    assert any(line.startswith("updated stream") for line in done), done
    for info in await settled(forces["nypd"].js.streams_info):
        assert info.config.num_replicas == 3, info.config.name


async def test_images_are_write_once_and_forces_sealed_on_three_nodes(
    forces: dict[str, LogClient],
) -> None:
    image_id = uuid.uuid4().hex
    await forces["lapd"].images.put("lapd", image_id, b"lapd-evidence", "image/jpeg")
    with pytest.raises(APIError):
        await forces["lapd"].js.publish(subjects.image("lapd", image_id), b"forged")
    assert await forces["nypd"].images.get("lapd", image_id) is None
    assert await forces["lapd"].images.get("lapd", image_id) == b"lapd-evidence"


def test_a_node_without_route_credentials_cannot_join(
    cluster: EmbeddedCluster, tmp_path: Path
) -> None:
    conf = tmp_path / "rogue.conf"
    conf.write_text(
        f"listen: 127.0.0.1:{free_port()}\nserver_name: rogue\n"
        f"cluster {{ name: prestacop, listen: 127.0.0.1:{free_port()}, "
        f'routes: ["nats-route://127.0.0.1:{cluster.route_ports[0]}"] }}\n'
    )
    with open(tmp_path / "rogue.log", "wb") as out:
        rogue = subprocess.Popen([nats_server_binary(), "-c", str(conf)], stdout=out, stderr=out)
    node0 = cluster.home / "n0" / "nats-server.log"
    try:
        asyncio.run(
            wait_until(
                lambda: "TLS route handshake error" in node0.read_text(),
                timeout=20,
                what="node 0 refusing the rogue's route",
            )
        )
        with urllib.request.urlopen(
            f"http://127.0.0.1:{cluster.http_ports[0]}/routez", timeout=5
        ) as r:
            routes = json.load(r)["routes"] or []
        assert "rogue" not in {route.get("remote_name") for route in routes}
        assert rogue.poll() is None  # it runs, alone
    finally:
        rogue.kill()
        rogue.wait()


async def test_one_node_of_three_killed_during_ingest_loses_no_acknowledged_message(
    cluster: EmbeddedCluster, forces: dict[str, LogClient]
) -> None:
    nypd = forces["nypd"]
    subject = subjects.position("nypd", "d-" + uuid.uuid4().hex[:8])
    acked: set[str] = set()

    async def ingest(n: int) -> None:
        for i in range(n):
            msg_id = f"{subject}-{i}"
            while True:  # a drone resends the same id until it has an ack
                try:
                    await nypd.publisher.publish_and_wait(subject, b"{}", msg_id=msg_id)
                except (AckTimeout, PublishError, NatsError, OSError):
                    await asyncio.sleep(0.05)  # back off, then resend
                    continue
                acked.add(msg_id)
                break

    task = asyncio.create_task(ingest(1500))
    await wait_until(lambda: len(acked) >= 300, timeout=60, what="first acks")
    leader = (await settled(lambda: nypd.js.stream_info(subjects.DRONES.name))).cluster.leader  # type: ignore[union-attr]
    lost = cluster.names.index(leader)
    cluster.kill_node(lost)  # the hardest node to lose
    try:
        await asyncio.wait_for(task, 180)
    finally:  # the cluster serves the rest of the session: three nodes again
        cluster.start_node(lost)
        await asyncio.to_thread(cluster.wait_healthy, [lost])

    stored: set[str] = set()
    sub = await nypd.js.subscribe(subject, ordered_consumer=True)
    try:
        while len(stored) < len(acked):
            msg = await sub.next_msg(timeout=10)
            stored.add((msg.headers or {}).get("Nats-Msg-Id", ""))
    finally:
        await sub.unsubscribe()
    assert acked <= stored
    assert len(acked) == 1500
