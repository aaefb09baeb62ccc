"""The nats-server versions PrestaCop needs, checked at connect: an old server must
fail with a clear message, not hang ("reconnecting…") or silently lose a feature."""

from __future__ import annotations

from nats.aio.client import Client

#: Consumers with several filter subjects (the gate, the console's alert feed) came in 2.10.
MIN_SERVER = (2, 10, 0)


class ServerTooOld(RuntimeError):
    """The connected nats-server is older than PrestaCop needs."""


def server_version(nc: Client) -> tuple[int, int, int] | None:
    """The connected server's version, or None when it is not a semantic version."""
    v = nc.connected_server_version
    try:
        return (v.major, v.minor, v.patch)
    except ValueError:
        return None


def check_server(nc: Client, minimum: tuple[int, int, int] = MIN_SERVER) -> None:
    """Raise ``ServerTooOld`` naming the version needed when the server is older."""
    found = server_version(nc)
    if found is not None and found < minimum:  # not a semantic version: unknown, not refused
        url = nc.connected_url.netloc if nc.connected_url else "the server"
        raise ServerTooOld(
            f"nats-server {'.'.join(map(str, found))} at {url} is too old:"
            f" PrestaCop needs nats-server {'.'.join(map(str, minimum))} or later"
        )
