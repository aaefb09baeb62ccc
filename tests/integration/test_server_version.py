"""The server version is checked at connect: too old a server fails at once with a
message naming the version needed (not "reconnecting…" forever)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nats.aio.client import Client, ServerVersion

from prestacop import bootstrap
from prestacop.adapters.atomic import no_atomic_batches
from prestacop.adapters.nats_connection import connect
from prestacop.adapters.server_version import MIN_SERVER, ServerTooOld, check_server
from prestacop.bootstrap import LogClient
from prestacop.nypd_replay.replay import ReplayOptions
from tests.integration.test_nypd_replay import good_ids, ticket_file


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


@pytest.mark.parametrize(
    ("version", "allows", "says"),
    [
        ("2.12.0", True, None),
        ("2.15.1", True, None),
        ("2.11.9", True, "nats-server 2.11.9 has no atomic batches (they need 2.12.0)"),
        ("2.10.0", True, "nats-server 2.10.0 has no atomic batches"),
        ("2.12.1", False, "does not allow atomic batches"),
        ("not-semver", True, None),
    ],
)
def test_without_atomic_batches_the_replay_says_why_in_one_line(
    version: str, allows: bool, says: str | None
) -> None:
    """The decision on the version string (no 2.10-2.11 binary here: only 2.15 installs)."""
    found = no_atomic_batches(ServerVersion(version), allows)
    if says is None:
        assert found is None
    else:
        assert found is not None and says in found and "one ack per message" in found
        assert "\n" not in found


async def test_a_replay_on_a_server_without_atomic_batches_says_so_and_lands_everything(
    log: LogClient, tenant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real replay, with the connected server reported as 2.11.4: one line says it
    falls back to per-message acks, and every ticket lands (it used to be silent)."""
    old = property(lambda nc: ServerVersion("2.11.4"))
    monkeypatch.setattr(Client, "connected_server_version", old)
    path = ticket_file(tmp_path / "t.csv", 500)
    said: list[str] = []

    class Listener:
        def started(self, *args: object) -> None: ...
        def advanced(self, *args: object) -> None: ...
        def status(self, message: str) -> None:
            said.append(message)

    opts = ReplayOptions(tenant=tenant, state_dir=tmp_path / "s", rejects=tmp_path / "r.csv")
    replay = bootstrap.replayer(log.nc.connected_url.geturl(), opts, Listener())
    report = await replay.run([str(path)])
    assert report.ok and report.events == len(good_ids(str(path), tenant))
    assert said == [
        "nats-server 2.11.4 has no atomic batches (they need 2.12.0):"
        " sending with one ack per message, slower"
    ]
