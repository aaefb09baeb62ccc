"""Who may read what in PostgreSQL: the owner role, per-force roles, row-level security.

Services connect as the owner (not a superuser). Every table of ours has row-level
security enabled *and forced* (its owner obeys it too, unless the role has BYPASSRLS,
as the embedded owner has for COPY). The owner's policy lets it see and write every
row; any other role sees only the rows whose ``tenant`` is the force that role is
mapped to in ``prestacop_auth.tenant_roles`` (through ``current_tenant()``), and of a
table without a ``tenant`` column nothing at all. Privileges then say what each role
may do with those rows: a force's analyst may only SELECT; a force's projector (the
role an analyst's custom projection runs as) may write its own projection's tables.
Views are ``security_invoker``: they check the reader's rights, not the owner's.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from psycopg import sql

from prestacop.domain.subjects import check_tenant

AUTH_SCHEMA = "prestacop_auth"
ANALYSTS = "prestacop_analysts"
"""The group role of every force's analyst (SELECT on every table; rows by policy)."""


def analyst_role(tenant: str) -> str:
    return f"prestacop_analyst_{check_tenant(tenant)}"


def projector_role(tenant: str) -> str:
    return f"prestacop_projector_{check_tenant(tenant)}"


def new_password() -> str:
    return secrets.token_urlsafe(24)  # no ':' nor '\\': safe in a pgpass line


def write_passfile(path: Path, user: str, password: str) -> None:
    """A libpq password file (``passfile=``), readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(f"*:*:*:{user}:{password}\n")
    tmp.replace(path)


def read_passfile(path: Path, user: str) -> str:
    for line in path.read_text().splitlines():
        *_, who, password = line.split(":", 4)
        if who in (user, "*"):
            return password
    raise LookupError(f"{path}: no password for role {user!r}")


def ensure_auth(cur: Any) -> None:
    """The tenant mapping and the analysts' group (idempotent; run by the owner, which
    has CREATEROLE)."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtext('prestacop_auth'))")
    if cur.execute(
        "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = %s AND p.proname = 'current_tenant'",
        (AUTH_SCHEMA,),
    ).fetchone():
        return  # done before (the function is made last)
    if cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ANALYSTS,)).fetchone() is None:
        cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(ANALYSTS)))
    a = sql.Identifier(AUTH_SCHEMA)
    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(a))
    cur.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.tenant_roles"
            " (role name PRIMARY KEY, tenant text NOT NULL)"
        ).format(a)
    )
    # Every role reads its own mapping row only; the function runs as its caller, so
    # ``current_user`` is the reader (or the projector a custom projection runs as).
    roles = sql.Identifier(AUTH_SCHEMA, "tenant_roles")
    cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO PUBLIC").format(a))
    cur.execute(sql.SQL("GRANT SELECT ON {} TO PUBLIC").format(roles))
    secure_table(cur, AUTH_SCHEMA, "tenant_roles", has_tenant=False)
    cur.execute(sql.SQL("DROP POLICY IF EXISTS own_row ON {}").format(roles))
    cur.execute(
        sql.SQL("CREATE POLICY own_row ON {} FOR SELECT USING (role = current_user)").format(roles)
    )
    cur.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}.current_tenant() RETURNS text LANGUAGE sql STABLE"
            " SET search_path = pg_catalog AS"
            " $$ SELECT tenant FROM {} WHERE role = current_user $$"
        ).format(a, roles)
    )


def secure_all(cur: Any, schema: str | None = None) -> None:
    """The generic step, for every table of every schema the current role owns (or of
    ``schema``), whoever added it: row-level security enabled and forced, the owner's
    policy, the tenant policy when the table has a ``tenant`` column, SELECT for the
    analysts; views made ``security_invoker``. Only what is missing is done: it runs at
    every setup and after every new build."""
    analysts = sql.Identifier(ANALYSTS)
    # one at a time: two builds created at once (a rebuild in two processes, runners started
    # together) would grant on the same schemas and fail with "tuple concurrently updated"
    cur.execute("SELECT pg_advisory_xact_lock(hashtext('prestacop.secure_all'))")
    for row in cur.execute(
        "SELECT n.nspname FROM pg_namespace n WHERE (n.nspname = %s::text OR %s::text IS NULL)"
        " AND n.nspname <> %s AND n.nspname NOT LIKE 'pg\\_%%'"
        " AND n.nspname <> 'information_schema' AND n.nspname <> 'public'"
        " AND pg_has_role(current_user, n.nspowner, 'USAGE')"
        " AND NOT has_schema_privilege(%s, n.oid, 'USAGE')",
        (schema, schema, AUTH_SCHEMA, ANALYSTS),
    ).fetchall():
        cur.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(row["nspname"]), analysts
            )
        )
    todo = cur.execute(
        "SELECT n.nspname, c.relname, c.relkind,"
        " EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid"
        "  AND a.attname = 'tenant' AND NOT a.attisdropped) AS has_tenant,"
        " c.relkind = 'v' AND NOT coalesce('security_invoker=true' = ANY(c.reloptions), false)"
        "  AS open_view,"
        " c.relkind <> 'v' AND NOT (c.relrowsecurity AND c.relforcerowsecurity"
        "  AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid"
        "  AND p.polname = 'owner_all')) AS open_table,"
        " NOT has_table_privilege(%s, c.oid, 'SELECT') AS ungranted"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE (n.nspname = %s::text OR %s::text IS NULL) AND n.nspname <> %s"
        "  AND n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema'"
        "  AND c.relkind IN ('r', 'p', 'v') AND c.relpersistence <> 't'"
        "  AND pg_has_role(current_user, c.relowner, 'USAGE')",
        (ANALYSTS, schema, schema, AUTH_SCHEMA),
    ).fetchall()
    for row in todo:
        t = sql.Identifier(row["nspname"], row["relname"])
        if row["open_view"]:
            cur.execute(sql.SQL("ALTER VIEW {} SET (security_invoker = true)").format(t))
        if row["open_table"]:
            secure_table(cur, row["nspname"], row["relname"], has_tenant=row["has_tenant"])
        if row["ungranted"]:
            cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(t, analysts))


def secure_table(cur: Any, schema: str, table: str, *, has_tenant: bool) -> None:
    t = sql.Identifier(schema, table)
    cur.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(t))
    cur.execute(sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(t))
    cur.execute(sql.SQL("DROP POLICY IF EXISTS owner_all ON {}").format(t))
    cur.execute(
        sql.SQL(
            "CREATE POLICY owner_all ON {} TO CURRENT_USER USING (true) WITH CHECK (true)"
        ).format(t)
    )
    if has_tenant:
        cur.execute(sql.SQL("DROP POLICY IF EXISTS tenant_rows ON {}").format(t))
        mine = sql.SQL("tenant = (SELECT {}.current_tenant())").format(sql.Identifier(AUTH_SCHEMA))
        cur.execute(
            sql.SQL("CREATE POLICY tenant_rows ON {} USING ({}) WITH CHECK ({})").format(
                t, mine, mine
            )
        )


def grant_projector(cur: Any, schema: str, tables: list[str], tenant: str) -> None:
    """Let ``tenant``'s projector write the tables of its own projection's build (rows of
    its force only, by policy) and nothing else."""
    untenanted = cur.execute(
        "SELECT t FROM unnest(%s::text[]) t WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a"
        " WHERE a.attrelid = format('%%I.%%I', %s::text, t)::regclass AND a.attname = 'tenant')",
        (tables, schema),
    ).fetchall()
    if untenanted:
        names = ", ".join(r["t"] for r in untenanted)
        raise ValueError(
            f"{schema}: table(s) {names} have no tenant column; a force's projection"
            " keeps each row under its force"
        )
    role = ensure_role(cur, projector_role(tenant), tenant, login=False)
    r = sql.Identifier(role)
    cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), r))
    for table in tables:
        cur.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(
                sql.Identifier(schema, table), r
            )
        )


def ensure_role(
    cur: Any, role: str, tenant: str, *, login: bool, password: str | None = None
) -> str:
    """A role mapped to ``tenant`` (created when missing; the owner may then SET ROLE to it)."""
    r = sql.Identifier(role)
    exists = cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if exists is None:
        cur.execute(
            sql.SQL("CREATE ROLE {} {}").format(r, sql.SQL("LOGIN" if login else "NOLOGIN"))
        )
        cur.execute(sql.SQL("GRANT {} TO CURRENT_USER WITH INHERIT FALSE, SET TRUE").format(r))
    if password is not None:
        cur.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(r, sql.Literal(password)))
    cur.execute(
        sql.SQL(
            "INSERT INTO {}.tenant_roles VALUES (%s, %s)"
            " ON CONFLICT (role) DO UPDATE SET tenant = excluded.tenant"
        ).format(sql.Identifier(AUTH_SCHEMA)),
        (role, tenant),
    )
    return role


def create_analyst(cur: Any, tenant: str) -> tuple[str, str]:
    """``tenant``'s read-only analyst role with a fresh password: (role, password)."""
    ensure_auth(cur)
    password = new_password()
    role = ensure_role(cur, analyst_role(tenant), tenant, login=True, password=password)
    cur.execute(
        sql.SQL("GRANT {} TO {} WITH INHERIT TRUE, SET FALSE").format(
            sql.Identifier(ANALYSTS), sql.Identifier(role)
        )
    )
    cur.execute(
        sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(sql.Identifier(role))
    )
    return role, password
