"""Passwords for the embedded PostgreSQL: scram-sha-256, never trust.

pgserver initialises a cluster with ``trust``. On the first start we give the
superuser and the services' owner role random passwords, kept in libpq password
files (0600) under ``$PRESTACOP_HOME``, then make every connection authenticate
with scram-sha-256. URLs name the password file (``passfile=``), never a password.

The owner (``prestacop``) is no superuser: CREATEROLE to make the forces' roles,
BYPASSRLS because it writes every force's rows and PostgreSQL refuses COPY (its
fast path) under a policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from prestacop.adapters.postgres_security import new_password, read_passfile, write_passfile

OWNER = "prestacop"
SUPERUSER = "postgres"
HBA = (
    "# Written by PrestaCop: every connection authenticates with a scram-sha-256 password.\n"
    "local all all scram-sha-256\n"
)


def url(socket_dir: Path, user: str, passfile: Path, database: str = "postgres") -> str:
    return (
        f"postgresql://{user}@/{database}?host={quote(str(socket_dir))}"
        f"&passfile={quote(str(passfile))}"
    )


def secure(pg: Any, home: Path) -> str:
    """Provision roles and scram on ``pg`` (a started pgserver); the owner's URL."""
    pgdata = Path(pg.pgdata)
    socket_dir = Path(pg.get_postmaster_info().socket_dir)
    admin_file, owner_file = home / "postgres-admin.pgpass", home / "postgres-owner.pgpass"
    hba = pgdata / "pg_hba.conf"
    if hba.read_text() == HBA and not (admin_file.exists() and owner_file.exists()):
        from prestacop.runtime.embedded import EmbeddedRuntimeError

        raise EmbeddedRuntimeError(
            f"PostgreSQL in {pgdata} asks for passwords, but {admin_file.name} or"
            f" {owner_file.name} is missing from {home}: restore them (or start afresh)"
        )
    if hba.read_text() != HBA:
        # First start (trust still on): passwords first, files before the server knows them.
        admin, owner = new_password(), new_password()
        write_passfile(admin_file, SUPERUSER, admin)
        write_passfile(owner_file, OWNER, owner)
        with psycopg.connect(pg.get_uri(), autocommit=True) as conn:
            _provision(conn, admin, owner)
            hba.write_text(HBA)
            conn.execute("SELECT pg_reload_conf()")
    else:
        # A restart: make sure the owner role is still as we left it.
        with psycopg.connect(url(socket_dir, SUPERUSER, admin_file), autocommit=True) as conn:
            _provision(conn, None, read_passfile(owner_file, OWNER))
    return url(socket_dir, OWNER, owner_file)


def _provision(conn: psycopg.Connection[Any], admin: str | None, owner: str) -> None:
    conn.execute("ALTER SYSTEM SET password_encryption = 'scram-sha-256'")
    conn.execute("SET password_encryption = 'scram-sha-256'")
    if admin is not None:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(SUPERUSER), sql.Literal(admin)
            )
        )
    o = sql.Identifier(OWNER)
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone() is None:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(o))
    conn.execute(
        sql.SQL(
            "ALTER ROLE {} LOGIN NOSUPERUSER CREATEROLE NOCREATEDB NOREPLICATION BYPASSRLS"
            " PASSWORD {}"
        ).format(o, sql.Literal(owner))
    )
    conn.execute(sql.SQL("GRANT CREATE ON DATABASE postgres TO {}").format(o))
    # Nobody but the owner creates objects where others could look them up.
    conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
