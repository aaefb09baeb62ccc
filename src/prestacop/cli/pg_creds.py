"""``prestacop creds analyst``: a force's read-only PostgreSQL role and how to connect.

The password goes to a libpq password file (0600) that the printed connection string
names; ``--show-password`` prints it once instead, for tools without password files.
"""

from __future__ import annotations

from pathlib import Path

import typer

from prestacop.cli.common import fail, out, settings, urls

creds_app = typer.Typer(help="Issue a force's credentials.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    attach(creds_app)
    app.add_typer(creds_app, name="creds")


def attach(creds: typer.Typer) -> None:
    """Add ``analyst`` to a ``creds`` command group."""
    creds.command("analyst")(analyst)


def analyst(
    tenant: str = typer.Option(..., "--tenant", "-t", help="The police force."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Password file (default $PRESTACOP_HOME/analyst-T.pgpass)."
    ),
    show_password: bool = typer.Option(
        False, "--show-password", help="Print the password once; write no file."
    ),
) -> None:
    """Create (or give a new password to) the force's read-only analyst role; print a
    connection string for it. It reads its own force's rows only, and writes nothing."""
    import psycopg
    from psycopg import conninfo

    from prestacop.adapters.postgres_check import first_line
    from prestacop.adapters.postgres_security import write_passfile
    from prestacop.bootstrap import create_analyst
    from prestacop.domain.subjects import SubjectError, check_tenant

    try:
        check_tenant(tenant)
    except SubjectError as err:
        fail(str(err), 2)
    cfg = settings()
    owner_url = urls(cfg, postgres=True).database_url or ""
    try:
        role, password = create_analyst(owner_url, tenant)
    except psycopg.OperationalError as err:  # unreachable, refused: as every other command
        fail(f"cannot reach PostgreSQL for the analyst role of {tenant}: {first_line(err)}", 3)
    except psycopg.Error as err:
        # the message only: a statement (with its password) is never part of it
        fail(f"PostgreSQL: analyst role of {tenant}: {err.diag.message_primary or err}")
    params = {k: v for k, v in conninfo.conninfo_to_dict(owner_url).items() if k != "password"}
    params["user"] = role
    if show_password:
        params.pop("passfile", None)
        out.print(conninfo.make_conninfo("", **params), soft_wrap=True)
        out.print(f"password (shown once): {password}", soft_wrap=True)
        return
    path = output or cfg.home / f"analyst-{tenant}.pgpass"
    write_passfile(path.resolve(), role, password)
    params["passfile"] = str(path.resolve())
    out.print(conninfo.make_conninfo("", **params), soft_wrap=True)
