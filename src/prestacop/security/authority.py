"""The operator's keys and every force's account, kept under ``$PRESTACOP_HOME/secrets``.

Operator mode: one operator signs one NATS account per police force (plus the system
account that pushes account updates to the servers); each force's account signs its
users. Seeds never leave this folder (0700, files 0600) except inside the ``.creds``
files issued to their holders. Revoking a user re-signs its account with a revocation
and pushes it: the server refuses it from then on, no restart.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from prestacop.domain.subjects import check_tenant, check_token
from prestacop.security import nats_jwt, permissions
from prestacop.security.nats_jwt import Key

Role = Literal["drone", "officer", "replay", "service"]
ROLES: tuple[Role, ...] = ("drone", "officer", "replay", "service")


@dataclass(frozen=True)
class AccountLimits:
    """A force's JetStream share of the servers, so one force cannot fill them for all."""

    disk_storage: int = 10 * 1024**3
    mem_storage: int = 64 * 1024**2
    streams: int = 16
    consumer: int = 256

    def claims(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.__dict__.items()}


class AuthorityError(Exception):
    """A tenant, role or id the authority does not know."""


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


@dataclass
class Authority:
    """Loads or creates the operator on first use. Not thread-safe: one CLI command at a time."""

    home: Path
    operator_name: str = "prestacop"
    _state: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def root(self) -> Path:
        return self.home / "secrets"

    def exists(self) -> bool:
        return (self.root / "operator.json").exists()

    def ensure(self) -> Authority:
        if not self.exists():
            operator, system, sys_user = Key.new("operator"), Key.new("account"), Key.new("user")
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.root.chmod(0o700)
            _write_secret(
                self.root / "operator.json",
                json.dumps({"operator": operator.seed.decode(), "system": system.seed.decode()}),
            )
            sys_jwt = nats_jwt.user(system, sys_user.public, "prestacop-system")
            _write_secret(self.root / "system.creds", nats_jwt.creds(sys_jwt, sys_user))
        raw = json.loads((self.root / "operator.json").read_text())
        self._state = {
            "operator": Key(raw["operator"].encode()),
            "system": Key(raw["system"].encode()),
        }
        return self

    @property
    def _operator(self) -> Key:
        if not self._state:
            self.ensure()
        return self._state["operator"]

    @property
    def _system(self) -> Key:
        self._operator  # noqa: B018 (loads)
        return self._state["system"]

    @property
    def system_creds(self) -> Path:
        self.ensure()
        return self.root / "system.creds"

    def operator_jwt(self) -> str:
        return nats_jwt.operator(self._operator, self.operator_name, self._system.public)

    def system_account_jwt(self) -> str:
        return nats_jwt.account(self._operator, self._system.public, "SYS", jetstream=None)

    # --- forces -------------------------------------------------------------------------

    def _tenant_dir(self, tenant: str) -> Path:
        return self.root / "tenants" / check_tenant(tenant)

    def tenants(self) -> list[str]:
        base = self.root / "tenants"
        return sorted(p.name for p in base.iterdir()) if base.exists() else []

    def _tenant(self, tenant: str) -> dict[str, Any]:
        path = self._tenant_dir(tenant) / "account.json"
        if not path.exists():
            raise AuthorityError(
                f"no tenant {tenant!r}: add it with `prestacop tenant add {tenant}`"
            )
        return dict(json.loads(path.read_text()))

    def _save_tenant(self, tenant: str, state: dict[str, Any]) -> None:
        _write_secret(self._tenant_dir(tenant) / "account.json", json.dumps(state, indent=1))

    def add_tenant(self, tenant: str, limits: AccountLimits | None = None) -> str:
        """Create the force's account (kept if it exists, limits updated if given)."""
        self.ensure()
        try:
            state = self._tenant(tenant)
        except AuthorityError:
            state = {"seed": Key.new("account").seed.decode(), "users": {}, "revoked": {}}
        if limits is not None or "limits" not in state:
            state["limits"] = (limits or AccountLimits()).claims()
        self._save_tenant(tenant, state)
        return self.account_jwt(tenant)

    def account_public(self, tenant: str) -> str:
        return Key(self._tenant(tenant)["seed"].encode()).public

    def account_jwt(self, tenant: str) -> str:
        state = self._tenant(tenant)
        key = Key(state["seed"].encode())
        return nats_jwt.account(
            self._operator,
            key.public,
            tenant,
            jetstream=state["limits"],
            revocations=state["revoked"],
        )

    def all_account_jwts(self) -> dict[str, str]:
        """Public key -> JWT of the system account and every force."""
        jwts = {self._system.public: self.system_account_jwt()}
        for t in self.tenants():
            jwts[self.account_public(t)] = self.account_jwt(t)
        return jwts

    # --- users --------------------------------------------------------------------------

    def issue(self, tenant: str, role: Role, ident: str = "") -> str:
        """A ``.creds`` text for a new user of ``role`` (``ident``: drone or officer id)."""
        state = self._tenant(tenant)
        account = Key(state["seed"].encode())
        if role in ("drone", "officer"):
            check_token(ident, f"{role} id")
        elif role not in ROLES:
            raise AuthorityError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        perms = {
            "drone": lambda: permissions.drone(tenant, ident),
            "officer": lambda: permissions.officer(tenant, ident),
            "replay": lambda: permissions.nypd_replay(tenant),
            "service": lambda: None,
        }[role]()
        user = Key.new("user")
        name = f"{tenant}-{role}" + (f"-{ident}" if ident else "")
        if perms is None:
            jwt = nats_jwt.user(account, user.public, name)
        else:
            jwt = nats_jwt.user(
                account,
                user.public,
                name,
                publish=list(perms.publish),
                subscribe=list(perms.subscribe),
                deny_publish=list(perms.deny_publish),
                limits=dict(perms.limits),
            )
        state["users"].setdefault(f"{role}:{ident}", []).append(user.public)
        self._save_tenant(tenant, state)
        return nats_jwt.creds(jwt, user)

    def revoke(self, tenant: str, role: Role, ident: str = "") -> str:
        """Revoke every credential issued to that user; the account JWT to push."""
        state = self._tenant(tenant)
        keys = state["users"].get(f"{role}:{ident}")
        if not keys:
            raise AuthorityError(f"no {role} {ident!r} was ever issued credentials in {tenant}")
        now = int(time.time()) + 1  # covers a JWT issued within this second
        for key in keys:
            state["revoked"][key] = now
        self._save_tenant(tenant, state)
        return self.account_jwt(tenant)

    def service_creds_path(self, tenant: str) -> Path:
        """Where the force's service credentials are kept, issued or not (nothing written)."""
        return self._tenant_dir(tenant) / "service.creds"

    def service_creds(self, tenant: str) -> Path:
        """The force's service credentials file (issued once, kept with the secrets)."""
        path = self.service_creds_path(tenant)
        if not path.exists():
            _write_secret(path, self.issue(tenant, "service"))
        return path

    def server_config(self, resolver_dir: Path) -> str:
        """The operator-mode part of nats-server.conf: trusted operator, full resolver."""
        preload = ",\n".join(f"  {k}: {v}" for k, v in self.all_account_jwts().items())
        return (
            f"operator: {self.operator_jwt()}\n"
            f"system_account: {self._system.public}\n"
            f"resolver: {{\n  type: full\n  dir: {json.dumps(str(resolver_dir))}\n"
            f'  allow_delete: false\n  interval: "2m"\n}}\n'
            f"resolver_preload: {{\n{preload}\n}}\n"
        )
