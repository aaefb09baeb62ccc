"""Over TLS, a flush of many messages is a few TLS records, not one per message."""

from __future__ import annotations

import ssl

import pytest
from nats.aio.msg import Msg

from prestacop.adapters.nats_connection import connect
from prestacop.domain import subjects
from tests.conftest import OPEN, wait_until


async def test_a_batch_of_publishes_goes_out_in_a_few_tls_records(
    nats_url: str, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if OPEN:
        pytest.skip("the session runs open: no TLS to measure")
    subject = subjects.feedback(tenant, "d1")
    marker = f"PUB {subject} ".encode()  # one per message
    records: list[int] = []

    class Counting(ssl.SSLObject):
        """Counts the plaintext writes (one TLS record each, up to 16 KiB) carrying ours."""

        def write(self, data: bytes) -> int:  # type: ignore[override]
            if marker in bytes(data):
                records.append(bytes(data).count(marker))
            return super().write(data)

    monkeypatch.setattr(ssl.SSLContext, "sslobject_class", Counting)
    nc = await connect(nats_url, "tls-writes")
    got: list[bytes] = []

    async def received(msg: Msg) -> None:
        got.append(msg.data)

    sub = await nc.subscribe(subject, cb=received)
    try:
        await nc.flush()
        for i in range(200):  # no await yields to the flusher in between: one flush
            await nc.publish(subject, b"%d" % i)
        await nc.flush()
        await wait_until(lambda: len(got) == 200, timeout=10)
    finally:
        await sub.unsubscribe()
        await nc.close()
    assert got == [b"%d" % i for i in range(200)]  # all of them, in order
    assert sum(records) == 200
    assert len(records) <= 5, f"{len(records)} TLS writes for 200 messages"
