"""``prestacop tenant``, ``creds`` and ``revoke``: forces, their users' credentials, revocation.

Secrets stay under $PRESTACOP_HOME/secrets; a ``.creds`` file is written 0600 where ``-o``
says, never printed.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from prestacop.cli.common import fail, out, run, say, settings, urls

tenant_app = typer.Typer(help="Police forces: one NATS account each.", no_args_is_help=True)
creds_app = typer.Typer(help="Issue a user's .creds file (0600).", no_args_is_help=True)
revoke_app = typer.Typer(help="Refuse a user from now on (no restart).", no_args_is_help=True)

TenantArg = typer.Option(..., "--tenant", "-t", help="The police force.")
OutputOpt = typer.Option(..., "--output", "-o", help="Where to write the .creds file.")


def register(app: typer.Typer) -> None:
    app.add_typer(tenant_app, name="tenant")
    app.add_typer(creds_app, name="creds")
    app.add_typer(revoke_app, name="revoke")


@tenant_app.command("add")
def tenant_add(
    name: str = typer.Argument(..., help="The force's name, e.g. nypd."),
    replicas: int = typer.Option(1, help="Replicas of its streams and images (3 on a cluster)."),
    max_storage_gib: float | None = typer.Option(None, help="Its JetStream disk share."),
    max_consumers: int | None = typer.Option(None, help="Its consumer limit."),
) -> None:
    """Create a force's account, push it to the running servers, make its streams and images."""
    from prestacop.adapters.nats_connection import CredentialsError
    from prestacop.adapters.topology import TopologyOptions
    from prestacop.bootstrap import add_tenant
    from prestacop.domain.subjects import SubjectError
    from prestacop.runtime.tenants import PushError
    from prestacop.security.authority import AccountLimits

    cfg = settings()
    found = urls(cfg)
    limits = None
    if max_storage_gib is not None or max_consumers is not None:
        base = AccountLimits()
        limits = AccountLimits(
            disk_storage=int((max_storage_gib or base.disk_storage / 1024**3) * 1024**3),
            consumer=max_consumers or base.consumer,
        )
    try:
        lines = run(
            add_tenant(
                found.nats_url, cfg.home, name, limits=limits,
                topology=TopologyOptions(replicas=replicas),
            )
        )  # fmt: skip
    except (SubjectError, PushError, CredentialsError) as err:
        fail(str(err), 2)
    for line in lines:
        out.print(line)


@tenant_app.command("list")
def tenant_list() -> None:
    """The forces this operator has accounts for."""
    from prestacop.security.authority import Authority

    authority = Authority(settings().home)
    forces = list(authority.tenants())
    if not forces:  # said on stderr: a script reading stdout gets the empty list
        say("no forces yet: add one with `prestacop tenant add NAME` (prestacop up adds nypd)")
    for t in forces:
        out.print(f"{t}\t{authority.account_public(t)}")


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)
    out.print(f"wrote {path}")


def _issue(tenant: str, role: str, ident: str, output: Path) -> None:
    from prestacop.domain.subjects import SubjectError
    from prestacop.security.authority import Authority, AuthorityError

    try:
        _write(output, Authority(settings().home).issue(tenant, role, ident))  # type: ignore[arg-type]
    except (AuthorityError, SubjectError) as err:
        fail(str(err), 2)


@creds_app.command("drone")
def creds_drone(
    tenant: str = TenantArg,
    drone: str = typer.Option(..., "--drone", "-d"),
    output: Path = OutputOpt,
) -> None:
    """A drone: publishes its own reports and new images, reads nothing."""
    _issue(tenant, "drone", drone, output)


@creds_app.command("officer")
def creds_officer(
    tenant: str = TenantArg,
    officer: str = typer.Option(..., "--officer"),
    output: Path = OutputOpt,
) -> None:
    """An officer: reads the force's alerts and images, decides alerts."""
    _issue(tenant, "officer", officer, output)


@creds_app.command("replay")
def creds_replay(tenant: str = TenantArg, output: Path = OutputOpt) -> None:
    """The NYPD replay: publishes history only."""
    _issue(tenant, "replay", "", output)


@creds_app.command("service")
def creds_service(tenant: str = TenantArg, output: Path = OutputOpt) -> None:
    """PrestaCop's services for one force (gate, projections): everything in its account."""
    _issue(tenant, "service", "", output)


@revoke_app.command("drone")
def revoke_drone(tenant: str = TenantArg, drone: str = typer.Option(..., "--drone", "-d")) -> None:
    """Revoke every credential issued to that drone; the servers refuse it from now on."""
    _revoke(tenant, "drone", drone)


@revoke_app.command("officer")
def revoke_officer(tenant: str = TenantArg, officer: str = typer.Option(..., "--officer")) -> None:
    """Revoke every credential issued to that officer."""
    _revoke(tenant, "officer", officer)


def _revoke(tenant: str, role: str, ident: str) -> None:
    from prestacop.bootstrap import revoke
    from prestacop.runtime.tenants import PushError
    from prestacop.security.authority import AuthorityError

    cfg = settings()
    found = urls(cfg)
    try:
        run(revoke(found.nats_url, cfg.home, tenant, role, ident))  # type: ignore[arg-type]
    except (AuthorityError, PushError) as err:
        fail(str(err), 2)
    out.print(f"revoked {role} {ident} of {tenant}")
