"""Onboarding a force and revoking a user on running servers, without a restart.

An account JWT is pushed with the system account's credentials
(``$SYS.REQ.CLAIMS.UPDATE``, answered by every server of a cluster with the ``full``
resolver); the force's streams and image storage are then made inside its account
with its own service credentials. The connections are opened by ``bootstrap.add_tenant``
and ``bootstrap.revoke``.
"""

from __future__ import annotations

import asyncio
import json
import time

from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from nats.js.client import JetStreamContext
from nats.js.errors import ServiceUnavailableError

from prestacop.adapters.topology import TopologyOptions, ensure_topology


class PushError(Exception):
    """The servers refused an account update."""


async def push_account(system: Client, account_jwt: str) -> None:
    """Push an account JWT over a connection of the system account (made by bootstrap)."""
    reply = await system.request("$SYS.REQ.CLAIMS.UPDATE", account_jwt.encode(), timeout=5)
    answer = json.loads(reply.data)
    if "error" in answer:
        raise PushError(str(answer["error"].get("description", answer["error"])))


JETSTREAM_NOT_ENABLED = 10039


async def ensure_when_enabled(
    js: JetStreamContext, topology: TopologyOptions | None, *, within_s: float = 30.0
) -> list[str]:
    """Make the force's streams once every server knows its account.

    The push is answered by the first server that applied it; on a cluster the others, and the
    meta leader that creates streams, may learn of the account a moment later and meanwhile say
    "JetStream not enabled for account", or not answer at all. That is waited out
    (ensure_topology is idempotent), each request with the context's own timeout.
    """
    deadline = time.monotonic() + within_s
    while True:
        try:
            return await ensure_topology(js, topology)
        except ServiceUnavailableError as e:
            if e.err_code != JETSTREAM_NOT_ENABLED or time.monotonic() > deadline:
                raise
        except NatsTimeout:  # a cluster just started may leave a request unanswered
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.2)
