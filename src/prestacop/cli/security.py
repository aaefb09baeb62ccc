"""``prestacop nats-auth``: the nats-server users and permissions of a force's fleet."""

from __future__ import annotations

import csv
import secrets
from pathlib import Path

import typer

from prestacop.cli.common import TenantOption, fail, out, settings


def register(app: typer.Typer) -> None:
    app.command("nats-auth")(nats_auth)


def nats_auth(
    drones: list[str] = typer.Option(..., "--drone", "-d", help="A drone id (repeat)."),
    tenant: str | None = TenantOption,
    config: Path = typer.Option(Path("nats-auth.conf"), help="Where to write the config block."),
    credentials: Path = typer.Option(Path("nats-credentials.csv"), help="user,password,role"),
) -> None:
    """Write a nats-server authorization block: one user per drone, the NYPD replay, officers,
    and the back-end services, each allowed to publish only where it belongs.

    Include it from nats-server.conf (`include nats-auth.conf`); hand each drone its line of
    the credentials file. Both files are written readable by their owner only.
    """
    from prestacop.domain.subjects import SubjectError
    from prestacop.security import permissions
    from prestacop.security.permissions import User

    cfg = settings(tenant)
    t = cfg.tenant

    def password() -> str:
        return secrets.token_urlsafe(24)

    try:
        users = [
            User(f"{t}-services", password()),
            User(f"{t}-nypd-replay", password(), permissions.nypd_replay(t)),
            User(f"{t}-officers", password(), permissions.officer(t)),
            *(User(f"{t}-drone-{d}", password(), permissions.drone(t, d)) for d in drones),
        ]
    except SubjectError as err:
        fail(str(err), 2)
    config.write_text(permissions.render_authorization(users))
    config.chmod(0o600)
    with credentials.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["user", "password", "role"])
        for u in users:
            writer.writerow([u.name, u.password, u.name.removeprefix(f"{t}-").split("-")[0]])
    credentials.chmod(0o600)
    out.print(f"wrote {config} ({len(users)} users) and {credentials}")
