"""NATS JWTs (v2) for operator mode, signed with ``nkeys``: operator, account, user, .creds.

Hand-written because it is small (a header, JSON claims, an Ed25519 signature) and PyPI's
``nats-jwt`` is young and little used; the format is nats-server's, tested against it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import nkeys

_HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}
_PREFIX = {
    "operator": nkeys.PREFIX_BYTE_OPERATOR,
    "account": nkeys.PREFIX_BYTE_ACCOUNT,
    "user": nkeys.PREFIX_BYTE_USER,
}


@dataclass(frozen=True)
class Key:
    """An nkey: its seed is the secret, its public key is its name."""

    seed: bytes

    @classmethod
    def new(cls, kind: str) -> Key:
        return cls(nkeys.encode_seed(os.urandom(32), _PREFIX[kind]))

    @property
    def public(self) -> str:
        return str(nkeys.from_seed(bytearray(self.seed)).public_key.decode())

    def sign(self, data: bytes) -> bytes:
        return bytes(nkeys.from_seed(bytearray(self.seed)).sign(data))

    def __repr__(self) -> str:  # never print a seed
        return f"Key({self.public})"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(issuer: Key, subject: str, name: str, nats: dict[str, Any]) -> str:
    """A signed JWT. ``jti`` is the claims' hash, as nats' own library makes it."""
    claims: dict[str, Any] = {
        "jti": "",
        "iat": int(time.time()),
        "iss": issuer.public,
        "name": name,
        "sub": subject,
        "nats": {**nats, "version": 2},
    }
    digest = hashlib.new("sha512_256", json.dumps(claims).encode()).digest()
    claims["jti"] = base64.b32encode(digest).decode().rstrip("=")
    signing_input = f"{_b64(json.dumps(_HEADER).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(issuer.sign(signing_input.encode()))}"


def decode(token: str) -> dict[str, Any]:
    """The claims of a JWT (not verified: for reading one's own credentials)."""
    return dict(json.loads(_unb64(token.split(".")[1])))


def operator(key: Key, name: str, system_account: str) -> str:
    return encode(key, key.public, name, {"type": "operator", "system_account": system_account})


def account(
    operator_key: Key,
    account_public: str,
    name: str,
    *,
    jetstream: dict[str, int] | None,
    revocations: dict[str, int] | None = None,
) -> str:
    """An account; ``jetstream`` limits (None: no JetStream, as for the system account)."""
    limits: dict[str, Any] = {
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": True, "conn": -1, "leaf": -1,
    }  # fmt: skip
    if jetstream is not None:
        limits.update(jetstream)
    nats: dict[str, Any] = {"type": "account", "limits": limits}
    if revocations:
        nats["revocations"] = revocations
    return encode(operator_key, account_public, name, nats)


def user(
    account_key: Key,
    user_public: str,
    name: str,
    *,
    publish: list[str] | None = None,
    subscribe: list[str] | None = None,
    deny_publish: list[str] | None = None,
    limits: dict[str, int] | None = None,
) -> str:
    """A user of an account; ``None`` permissions: everything in its account."""
    nats: dict[str, Any] = {"type": "user", "subs": -1, "data": -1, "payload": -1}
    nats.update(limits or {})
    if publish is not None or deny_publish:
        nats["pub"] = {"allow": publish or [], "deny": deny_publish or []}
    if subscribe is not None:
        nats["sub"] = {"allow": subscribe}
    return encode(account_key, user_public, name, nats)


def creds(user_jwt: str, user_key: Key) -> str:
    """A standard ``.creds`` file's text (what ``nsc`` writes and NATS clients read)."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{user_jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{user_key.seed.decode()}\n"
        "------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )


def jwt_of_creds(text: str) -> str:
    """The (public) JWT part of a ``.creds`` file."""
    lines = [line.strip() for line in text.splitlines()]
    try:
        return lines[lines.index("-----BEGIN NATS USER JWT-----") + 1]
    except (ValueError, IndexError) as err:
        raise ValueError("not a NATS .creds file (no user JWT block)") from err
