"""The server version is checked at connect: too old a server fails at once with a
message naming the version needed (not "reconnecting…" forever)."""

from __future__ import annotations

import pytest

from prestacop.adapters.nats_connection import connect
from prestacop.adapters.server_version import MIN_SERVER, ServerTooOld, check_server


async def test_the_test_server_is_recent_enough(nats_url: str) -> None:
    nc = await connect(nats_url, "tests-version")  # checks MIN_SERVER
    try:
        version = nc.connected_server_version
        assert (version.major, version.minor, version.patch) >= MIN_SERVER
        with pytest.raises(ServerTooOld, match=r"needs nats-server 99\.0\.0 or later") as err:
            check_server(nc, (99, 0, 0))
        assert f"nats-server {version.major}.{version.minor}.{version.patch}" in str(err.value)
    finally:
        await nc.close()
