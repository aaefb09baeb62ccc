"""A drone's core-publish flood, the issue's attack: ``flood.py URL CREDS CA SUBJECT SECONDS``.

Writes ``PUB`` frames straight to the socket, as fast as one process can, for SECONDS
on SUBJECT with the drone's own credentials (no acks asked), then prints how many it
sent. nats-py only does the handshake (TLS, the JWT's signed nonce): its publish path
is ten times too slow to flood.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import time

import nats


async def main(url: str, creds: str, ca: str, subject: str, seconds: float) -> None:
    nc = await nats.connect(
        url.split(","),
        user_credentials=creds,
        tls=ssl.create_default_context(cafile=ca),
        inbox_prefix=b"_INBOX_DRONE.flood",
        pending_size=64 * 1024 * 1024,
        flusher_queue_size=4096,
        max_reconnect_attempts=-1,
    )
    body = b'{"type":"drone.position","v":1}'
    frame = b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(body), body)
    chunk = frame * 10_000
    transport = nc._transport
    assert transport is not None
    sent, end = 0, time.monotonic() + seconds
    print("flooding", flush=True)
    while time.monotonic() < end:
        transport.write(chunk)
        await transport.drain()
        sent += 10_000
    await nc.flush(timeout=60)
    print(sent, flush=True)
    await nc.close()


if __name__ == "__main__":
    url, creds, ca, subject, seconds = sys.argv[1:6]
    asyncio.run(main(url, creds, ca, subject, float(seconds)))
