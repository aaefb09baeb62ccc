"""Where projections live in PostgreSQL: builds, the live pointer, atomic swaps.

Each build of a projection has a schema of its own (``<ns>_<name>_v<version>_<n>``)
holding its tables, its tracking rows, progress and dead letters (by force and stream:
a build of an older ``layout`` is filled again beside it, as for a new version). The stable
names people query are views in schema ``<ns>`` (``prestacop.violations``);
a swap re-points them to another build inside one transaction, so a query sees
the old build or the new one, never a part of either.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg import conninfo, sql

from prestacop.adapters import postgres_security as security
from prestacop.adapters.postgres_tracking import BuildRecorder
from prestacop.ports.projection import LAYOUT, Build, Projection

__all__ = ["DEFAULT_NAMESPACE", "Build", "ProjectionStore", "datastore"]

log = logging.getLogger(__name__)
DEFAULT_NAMESPACE = "prestacop"


def datastore(database_url: str, schema: str, pool_size: int = 1) -> PostgresDatastore:
    """An eventsourcing datastore from a libpq URL (Unix sockets included)."""
    info = conninfo.conninfo_to_dict(database_url)
    user = str(info.get("user", "postgres"))
    passfile = info.get("passfile")
    return PostgresDatastore(
        dbname=str(info.get("dbname", "postgres")),
        host=str(info.get("host", "localhost")),
        port=str(info.get("port", "5432")),
        user=user,
        password=str(info.get("password", "")),
        get_password_func=(
            (lambda: security.read_passfile(Path(str(passfile)), user)) if passfile else None
        ),
        schema=schema,
        pool_size=pool_size,
        max_overflow=1,
        connect_timeout=10.0,
        pre_ping=True,  # a pooled connection is checked before use: PostgreSQL may have restarted
    )


class ProjectionStore:
    """The registry of builds and the public views (the composition root builds one)."""

    def __init__(self, database_url: str, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.database_url = database_url
        self.namespace = namespace
        self.meta = f"{namespace}_meta"
        self._ds = datastore(database_url, self.meta)
        self._m = sql.Identifier(self.meta)

    def close(self) -> None:
        self._ds.close()

    def setup(self) -> None:
        with self._ds.transaction(commit=True) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.meta,))
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self._m))
            cur.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.namespace))
            )
            cur.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.builds (schema text PRIMARY KEY,"
                    " name text NOT NULL, version int NOT NULL, state text NOT NULL,"
                    " source text NOT NULL, tables text[] NOT NULL,"
                    " created_at timestamptz NOT NULL DEFAULT now(), swapped_at timestamptz)"
                ).format(self._m)
            )
            cur.execute(  # builds made before positions were per force have layout 1
                sql.SQL(
                    "ALTER TABLE {0}.builds ADD COLUMN IF NOT EXISTS layout int NOT NULL"
                    " DEFAULT 1, ADD COLUMN IF NOT EXISTS tenant text,"
                    " ADD COLUMN IF NOT EXISTS pending_indexes text[] NOT NULL DEFAULT '{{}}'"
                ).format(self._m)
            )
            cur.execute(sql.SQL("CREATE SEQUENCE IF NOT EXISTS {}.build_numbers").format(self._m))
            cur.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.heartbeats (runner text PRIMARY KEY,"
                    " beat_at timestamptz NOT NULL)"
                ).format(self._m)
            )
            cur.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.live (name text PRIMARY KEY,"
                    " schema text NOT NULL REFERENCES {}.builds)"
                ).format(self._m, self._m)
            )
            security.ensure_auth(cur)
            security.secure_all(cur)

    def heartbeat(self, runner: str) -> None:
        """A running runner says so every few seconds (``project status`` reads it)."""
        with self._ds.transaction(commit=True) as cur:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {}.heartbeats (runner, beat_at) VALUES (%s, now())"
                    " ON CONFLICT (runner) DO UPDATE SET beat_at = excluded.beat_at"
                ).format(self._m),
                (runner,),
            )

    def forget_runner(self, runner: str) -> None:
        """A runner stopping cleanly is at once no longer alive."""
        with self._ds.transaction(commit=True) as cur:
            cur.execute(
                sql.SQL("DELETE FROM {}.heartbeats WHERE runner = %s").format(self._m), (runner,)
            )

    def runners_alive(self, within_s: float) -> list[str]:
        """The runners whose last heartbeat is at most ``within_s`` seconds old."""
        rows = self.query(
            sql.SQL(
                "SELECT runner FROM {}.heartbeats WHERE beat_at > now() - %s * interval '1 second'"
                " ORDER BY runner"
            )
            .format(self._m)
            .as_string(),
            (within_s,),
        )
        return [r["runner"] for r in rows]

    def builds(self, name: str | None = None) -> list[Build]:
        query = sql.SQL(
            "SELECT name, version, schema, state, source, created_at, swapped_at, layout, tenant"
            " FROM {}.builds {} ORDER BY name, created_at"
        ).format(self._m, sql.SQL("WHERE name = %s" if name else ""))
        with self._ds.transaction() as cur:
            return [Build(**row) for row in cur.execute(query, (name,) if name else ())]

    def live(self, name: str) -> Build | None:
        return next((b for b in self.builds(name) if b.state == "live"), None)

    def create_build(
        self, projection: type[Projection], source: str, tenant: str | None = None
    ) -> Build:
        """A fresh, empty build beside any existing ones (state ``building``); a force's
        own projection (``tenant``) may write its tables as that force's projector only."""
        with self._ds.transaction(commit=True) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.meta,))
            row = cur.execute(
                sql.SQL("SELECT nextval('{}.build_numbers') AS n").format(self._m)
            ).fetchone()
            assert row is not None
            schema = f"{self.namespace}_{projection.name}_v{projection.version}_{row['n']}"
            if len(schema) > 63:
                raise ValueError(f"schema name {schema!r} too long: shorten the projection name")
            cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            cur.execute(
                sql.SQL("SET LOCAL search_path TO {}, public").format(sql.Identifier(schema))
            )
            for table, columns in projection.tables.items():
                cur.execute(
                    sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), sql.SQL(columns))
                )
            for statement in projection.indexes:
                cur.execute(sql.SQL(statement))
            cur.execute(
                sql.SQL(
                    "INSERT INTO {}.builds (schema, name, version, state, source, tables, layout,"
                    " tenant, pending_indexes) VALUES (%s, %s, %s, 'building', %s, %s, %s, %s, %s)"
                ).format(self._m),
                (schema, projection.name, projection.version, source, list(projection.tables),
                 LAYOUT, tenant, list(projection.query_indexes)),
            )  # fmt: skip
        build = Build(
            projection.name, projection.version, schema, "building", source, tenant=tenant
        )
        recorder = self.recorder(build)
        recorder.create_table()
        recorder.close()
        with self._ds.transaction(commit=True) as cur:
            security.secure_all(cur, schema)
            if tenant is not None:
                security.grant_projector(cur, schema, list(projection.tables), tenant)
        return build

    def recorder(
        self, build: Build, tenant: str | None = None, pool_size: int = 1
    ) -> BuildRecorder:
        """``tenant``: the build is a force's own projection; it applies as its projector."""
        recorder = BuildRecorder(datastore(self.database_url, build.schema, pool_size), self.meta)
        recorder.run_as = security.projector_role(tenant) if tenant else None
        return recorder

    def swap(self, build: Build, drop_old: bool = True) -> Build | None:
        """Make ``build`` the live one in one transaction; returns the build it replaced."""
        with self._ds.transaction(commit=True) as cur:
            self._build_indexes(cur, build.schema)
            tables = self._tables(cur, build.schema)
            cur.execute(
                sql.SQL("INSERT INTO {}.live VALUES (%s, %s) ON CONFLICT DO NOTHING").format(
                    self._m
                ),
                (build.name, build.schema),
            )
            row = cur.execute(
                sql.SQL("SELECT schema FROM {}.live WHERE name = %s FOR UPDATE").format(self._m),
                (build.name,),
            ).fetchone()
            old = row["schema"] if row and row["schema"] != build.schema else None
            old_tables = self._tables(cur, old) if old else []
            for table in old_tables:
                cur.execute(
                    sql.SQL("DROP VIEW IF EXISTS {}.{}").format(
                        sql.Identifier(self.namespace), sql.Identifier(table)
                    )
                )
            for table in tables:
                cur.execute(
                    sql.SQL(
                        "DROP VIEW IF EXISTS {ns}.{t}; CREATE VIEW {ns}.{t}"
                        " WITH (security_invoker = true) AS SELECT * FROM {s}.{t};"
                        " GRANT SELECT ON {ns}.{t} TO {analysts}"
                    ).format(
                        ns=sql.Identifier(self.namespace),
                        t=sql.Identifier(table),
                        s=sql.Identifier(build.schema),
                        analysts=sql.Identifier(security.ANALYSTS),
                    )
                )
            cur.execute(
                sql.SQL("UPDATE {}.live SET schema = %s WHERE name = %s").format(self._m),
                (build.schema, build.name),
            )
            cur.execute(
                sql.SQL(
                    "UPDATE {}.builds SET state = CASE WHEN schema = %s THEN 'live'"
                    " ELSE 'retired' END, swapped_at = CASE WHEN schema = %s THEN now()"
                    " ELSE swapped_at END WHERE name = %s AND state <> 'retired'"
                ).format(self._m),
                (build.schema, build.schema, build.name),
            )
        replaced = next((b for b in self.builds(build.name) if b.schema == old), None)
        if replaced is not None and drop_old:
            self.drop(replaced)
        return replaced

    def _build_indexes(self, cur: Any, schema: str) -> None:
        """The build's query indexes, if not built yet: inside the swap's transaction, so a
        crash leaves the build unswapped and still owing them (measured: maintaining them
        while filling cost PostgreSQL ~0.35 s per 100k violations; built once, far less)."""
        row = cur.execute(
            sql.SQL("SELECT pending_indexes FROM {}.builds WHERE schema = %s FOR UPDATE").format(
                self._m
            ),
            (schema,),
        ).fetchone()
        if not row or not row["pending_indexes"]:
            return
        path = cur.execute("SELECT current_setting('search_path') AS p").fetchone()["p"]
        cur.execute(sql.SQL("SET LOCAL search_path TO {}, public").format(sql.Identifier(schema)))
        for statement in row["pending_indexes"]:
            cur.execute(sql.SQL(statement))
        cur.execute("SELECT set_config('search_path', %s, true)", (path,))
        cur.execute(
            sql.SQL("UPDATE {}.builds SET pending_indexes = '{{}}' WHERE schema = %s").format(
                self._m
            ),
            (schema,),
        )

    def drop(self, build: Build) -> None:
        """Drop a build that is not live (waits for queries still reading it)."""
        with self._ds.transaction(commit=True) as cur:
            row = cur.execute(
                sql.SQL("SELECT 1 FROM {}.live WHERE schema = %s").format(self._m),
                (build.schema,),
            ).fetchone()
            if row is not None:
                raise ValueError(f"{build.schema} is live; swap another build in first")
            cur.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(build.schema))
            )
            cur.execute(
                sql.SQL("DELETE FROM {}.builds WHERE schema = %s").format(self._m),
                (build.schema,),
            )

    def _tables(self, cur: Any, schema: str) -> list[str]:
        row = cur.execute(
            sql.SQL("SELECT tables FROM {}.builds WHERE schema = %s").format(self._m), (schema,)
        ).fetchone()
        return list(row["tables"]) if row else []

    def query(self, statement: str, params: Any = ()) -> list[dict[str, Any]]:
        """Run a read-only query (status, tests)."""
        with self._ds.transaction() as cur:
            return list(cur.execute(statement, params))
