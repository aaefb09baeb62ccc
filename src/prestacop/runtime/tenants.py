"""Onboarding a force and revoking a user on running servers, without a restart.

An account JWT is pushed with the system account's credentials
(``$SYS.REQ.CLAIMS.UPDATE``, answered by every server of a cluster with the ``full``
resolver); the force's streams and image storage are then made inside its account
with its own service credentials.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from nats.js.client import JetStreamContext
from nats.js.errors import ServiceUnavailableError

from prestacop.adapters.nats_connection import connect
from prestacop.adapters.topology import TopologyOptions, ensure_topology
from prestacop.security.authority import AccountLimits, Authority, Role


class PushError(Exception):
    """The servers refused an account update."""


async def push_account(nats_url: str, authority: Authority, account_jwt: str) -> None:
    nc = await connect(nats_url, "prestacop-accounts", creds=authority.system_creds)
    try:
        reply = await nc.request("$SYS.REQ.CLAIMS.UPDATE", account_jwt.encode(), timeout=5)
    finally:
        await nc.close()
    answer = json.loads(reply.data)
    if "error" in answer:
        raise PushError(str(answer["error"].get("description", answer["error"])))


async def add_tenant(
    nats_url: str,
    home: Path,
    tenant: str,
    *,
    limits: AccountLimits | None = None,
    topology: TopologyOptions | None = None,
) -> list[str]:
    """Account, streams and image storage of a force; lines saying what was done."""
    authority = Authority(home)
    await push_account(nats_url, authority, authority.add_tenant(tenant, limits))
    nc = await connect(nats_url, f"prestacop-setup-{tenant}", creds=authority.service_creds(tenant))
    try:
        done = await _ensure_when_enabled(nc.jetstream(timeout=30.0), topology)
    finally:
        await nc.drain()
    return [f"account {tenant} {authority.account_public(tenant)} pushed", *done]


JETSTREAM_NOT_ENABLED = 10039


async def _ensure_when_enabled(
    js: JetStreamContext, topology: TopologyOptions | None, *, within_s: float = 30.0
) -> list[str]:
    """Make the force's streams once every server knows its account.

    The push is answered by the first server that applied it; on a cluster the others, and the
    meta leader that creates streams, may learn of the account a moment later and meanwhile say
    "JetStream not enabled for account". That is waited out (ensure_topology is idempotent).
    """
    deadline = time.monotonic() + within_s
    while True:
        try:
            return await ensure_topology(js, topology)
        except ServiceUnavailableError as e:
            if e.err_code != JETSTREAM_NOT_ENABLED or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def revoke(nats_url: str, home: Path, tenant: str, role: Role, ident: str) -> None:
    authority = Authority(home)
    await push_account(nats_url, authority, authority.revoke(tenant, role, ident))
