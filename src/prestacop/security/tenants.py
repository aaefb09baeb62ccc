"""Onboarding a force and revoking a user on running servers, without a restart.

An account JWT is pushed with the system account's credentials
(``$SYS.REQ.CLAIMS.UPDATE``, answered by every server of a cluster with the ``full``
resolver); the force's streams and image storage are then made inside its account
with its own service credentials.
"""

from __future__ import annotations

import json
from pathlib import Path

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
        done = await ensure_topology(nc.jetstream(timeout=30.0), topology)
    finally:
        await nc.drain()
    return [f"account {tenant} {authority.account_public(tenant)} pushed", *done]


async def revoke(nats_url: str, home: Path, tenant: str, role: Role, ident: str) -> None:
    authority = Authority(home)
    await push_account(nats_url, authority, authority.revoke(tenant, role, ident))
