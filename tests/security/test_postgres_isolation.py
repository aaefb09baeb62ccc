"""PostgreSQL per force, on the real server: services as a non-superuser owner with a
scram password; a force's analyst reads its own rows only (tables and views), writes
nothing, runs no program; an analyst's projection has its force's rights only."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import conninfo, errors
from psycopg.rows import dict_row
from typer.testing import CliRunner

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.adapters.postgres_security import create_analyst
from prestacop.domain.events import ViolationReported
from prestacop.projections.catalog import BUILTINS
from prestacop.runtime.embedded import EmbeddedRuntime, EmbeddedRuntimeError
from tests.conftest import wait_until
from tests.projection_support import caught_up, namespace, publish_events

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
FORCE_PLATES = "tests.security.force_projection:ForcePlates"


def connect(url: str) -> psycopg.Connection[dict[str, Any]]:
    return psycopg.connect(url, row_factory=dict_row, autocommit=True)


def analyst_url(database_url: str, tenant: str, tmp_path: Path) -> str:
    with connect(database_url) as conn, conn.cursor() as cur:
        role, password = create_analyst(cur, tenant)
    params = conninfo.conninfo_to_dict(database_url)
    params.update(user=role, password=password)
    params.pop("passfile", None)
    return conninfo.make_conninfo(**params)


@pytest.fixture(scope="module")
def built(database_url: str) -> Iterator[tuple[str, ProjectionStore, dict[str, str]]]:
    """Every built-in projection built and live in a namespace of its own, with a row of
    two forces (lapd, nypd-like random names) in ``violations``."""
    ns = namespace()
    store = ProjectionStore(database_url, ns)
    store.setup()
    schemas = {}
    for cls in BUILTINS.values():
        build = store.create_build(cls, "test")
        store.swap(build)
        schemas[cls.name] = build.schema
    yield ns, store, schemas
    store.close()


def add_violation(database_url: str, schema: str, tenant: str, plate: str) -> None:
    with connect(database_url) as conn:
        conn.execute(
            f'INSERT INTO "{schema}".violations (tenant, violation_id, drone_id, time,'
            " location_precision, drone_code, origin, stream, seq, received_at, plate)"
            " VALUES (%s, %s, 'd1', %s, 'gps', 21, 'drone', 'S', 1, %s, %s)",
            (tenant, f"{tenant}-{plate}", T0, T0, plate),
        )


def test_services_connect_as_a_non_superuser_owner_with_a_scram_password(
    runtime: EmbeddedRuntime, database_url: str
) -> None:
    assert "password=" not in database_url
    with connect(database_url) as conn:
        me = conn.execute(
            "SELECT rolname, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert me == {"rolname": "prestacop", "rolsuper": False}
        assert conn.execute("SHOW password_encryption").fetchone() == {
            "password_encryption": "scram-sha-256"
        }
    hba = (runtime.home / "postgres" / "pg_hba.conf").read_text()
    assert "trust" not in hba.replace("# ", "").split("\n", 1)[1]
    for name in ("postgres-owner.pgpass", "postgres-admin.pgpass"):
        assert stat.S_IMODE((runtime.home / name).stat().st_mode) == 0o600
    without = conninfo.conninfo_to_dict(database_url)
    without.pop("passfile")
    for user in ("prestacop", "postgres"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(conninfo.make_conninfo(**{**without, "user": user})).close()
    admin = {**without, "user": "postgres", "passfile": str(runtime.home / "postgres-admin.pgpass")}
    with connect(conninfo.make_conninfo(**admin)) as conn:
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolcanlogin").fetchall()
    assert stored and all(r["rolpassword"].startswith("SCRAM-SHA-256$") for r in stored)


def test_a_restart_keeps_the_passwords_and_a_lost_password_file_is_a_clear_error() -> None:
    home = Path(tempfile.mkdtemp(prefix="prestacop-pgauth-"))
    try:
        first = EmbeddedRuntime(home)
        url = first.start().database_url or ""
        first.stop()
        again = EmbeddedRuntime(home)
        assert again.start().database_url == url
        with connect(url) as conn:
            assert conn.execute("SELECT current_user AS u").fetchone() == {"u": "prestacop"}
        again.stop()
        secret = (home / "postgres-owner.pgpass").read_text()
        (home / "postgres-owner.pgpass").unlink()
        lost = EmbeddedRuntime(home)
        with pytest.raises(EmbeddedRuntimeError, match="is missing from") as err:
            lost.start()
        lost.stop()
        assert secret.rsplit(":", 1)[1].strip() not in str(err.value)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_every_table_of_every_build_has_forced_row_level_security(built, database_url) -> None:
    ns, store, _ = built
    store.setup()  # the generic step also covers a table another module added
    with connect(database_url) as conn:
        conn.execute(f"CREATE TABLE {ns}_meta.added_later (tenant text, x int)")
        store.setup()
        open_tables = conn.execute(
            "SELECT n.nspname || '.' || c.relname AS t FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p')"
            " AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            " AND c.relpersistence <> 't'"
            " AND NOT (c.relrowsecurity AND c.relforcerowsecurity)"
        ).fetchall()
        open_views = conn.execute(
            "SELECT n.nspname || '.' || c.relname AS v FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'v'"
            " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND NOT coalesce('security_invoker=true' = ANY(c.reloptions), false)"
        ).fetchall()
        views = conn.execute(
            "SELECT count(*) AS n FROM pg_views WHERE schemaname = %s", (ns,)
        ).fetchone()
    assert open_tables == []
    assert open_views == []
    assert views is not None and views["n"] >= len(BUILTINS)


def test_an_analyst_reads_only_its_own_force_through_tables_and_views(
    built, database_url, tmp_path
) -> None:
    ns, _, schemas = built
    add_violation(database_url, schemas["violations"], "lapd-x", "LA111")
    add_violation(database_url, schemas["violations"], "nypd-x", "NY222")
    with connect(analyst_url(database_url, "lapd-x", tmp_path)) as conn:
        through_view = conn.execute(f"SELECT tenant, plate FROM {ns}.violations").fetchall()
        through_table = conn.execute(
            f'SELECT tenant, plate FROM "{schemas["violations"]}".violations'
        ).fetchall()
        asked = conn.execute(
            f"SELECT count(*) AS n FROM {ns}.violations WHERE tenant = 'nypd-x'"
        ).fetchone()
        builds = conn.execute(f"SELECT count(*) AS n FROM {ns}_meta.builds").fetchone()
        mapping = conn.execute("SELECT * FROM prestacop_auth.tenant_roles").fetchall()
    assert through_view == through_table == [{"tenant": "lapd-x", "plate": "LA111"}]
    assert asked == {"n": 0}
    assert builds == {"n": 0}  # the services' own tables: nothing
    assert mapping == [{"role": "prestacop_analyst_lapd-x", "tenant": "lapd-x"}]


def test_an_analyst_writes_nothing_and_runs_no_program(built, database_url, tmp_path) -> None:
    ns, _, schemas = built
    add_violation(database_url, schemas["violations"], "nypd-w", "NY333")
    table = f'"{schemas["violations"]}".violations'
    with connect(analyst_url(database_url, "lapd-w", tmp_path)) as conn:
        conn.execute("SET default_transaction_read_only = off")  # a session setting is no key
        for statement in (
            f"UPDATE {table} SET plate = 'X'",
            f"DELETE FROM {table}",
            f"TRUNCATE {table}",
            f"UPDATE {ns}.violations SET plate = 'X'",
            f"INSERT INTO {table} (tenant) VALUES ('lapd-w')",
            "DELETE FROM prestacop_auth.tenant_roles",
            "INSERT INTO prestacop_auth.tenant_roles VALUES (current_user, 'nypd-w')",
            f"CREATE TABLE {ns}.mine (x int)",
            "ALTER ROLE current_user BYPASSRLS",
            "SET ROLE prestacop",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)
        with pytest.raises(errors.InsufficientPrivilege, match="pg_execute_server_program"):
            conn.execute("COPY (SELECT 1) TO PROGRAM 'id'")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("COPY (SELECT 1) TO '/tmp/prestacop-analyst-copy'")
    with connect(database_url) as conn:  # the services neither
        with pytest.raises(errors.InsufficientPrivilege, match="pg_execute_server_program"):
            conn.execute("COPY (SELECT 1) TO PROGRAM 'id'")
        still = conn.execute(f"SELECT plate FROM {table} WHERE tenant = 'nypd-w'").fetchall()
    assert still == [{"plate": "NY333"}]


def test_creds_analyst_prints_a_connection_string_and_no_password(
    runtime: EmbeddedRuntime, database_url: str, nats_url: str, tmp_path: Path
) -> None:
    from prestacop.cli.main import app

    env = {"DATABASE_URL": database_url, "NATS_URL": nats_url, "PRESTACOP_HOME": str(tmp_path)}
    result = CliRunner().invoke(app, ["creds", "analyst", "--tenant", "lapd-c"], env=env)
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    passfile = tmp_path / "analyst-lapd-c.pgpass"
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    password = passfile.read_text().strip().rsplit(":", 1)[1]
    assert password not in result.output and "password" not in result.output
    with connect(url) as conn:
        assert conn.execute("SELECT current_user AS u").fetchone() == {
            "u": "prestacop_analyst_lapd-c"
        }
    again = CliRunner().invoke(
        app, ["creds", "analyst", "-t", "lapd-c", "--show-password"], env=env
    )
    assert again.exit_code == 0, again.output
    shown = again.output.split("password (shown once): ", 1)[1].strip()
    assert shown != password  # a new password; the old one no longer opens
    with pytest.raises(psycopg.OperationalError, match="password"):
        connect(url).close()
    assert os.environ.get("PGPASSWORD") is None


async def test_an_analysts_projection_has_its_forces_rights_and_events_only(
    log, nats_url, database_url, tenant
) -> None:
    other = tenant + "o"

    def v(mid: str, plate: str) -> ViolationReported:
        return ViolationReported(
            message_id=mid, drone_id="d1", time=T0, latitude=40.7, longitude=-74.0,
            violation_code=21, image_id=f"img-{mid}", plate=plate,
        )  # fmt: skip

    mine = await publish_events(
        log, tenant, [v(f"{tenant}-1", "OWN1"), v(f"{tenant}-2", "FORGE"), v(f"{tenant}-3", "PEEK")]
    )
    await publish_events(log, other, [v(f"{other}-1", "THEIRS")])
    ns = namespace()
    store = ProjectionStore(database_url, ns)
    import asyncio

    from prestacop.bootstrap import run_projections

    stop = asyncio.Event()
    task = asyncio.create_task(
        run_projections(nats_url, database_url, stop, [], [FORCE_PLATES], namespace=ns,
                        tenant=tenant)
    )  # fmt: skip
    try:
        await wait_until(
            lambda: caught_up(store, mine, "force_plates"), timeout=30, what="caught up"
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    rows = store.query(f"SELECT tenant, plate FROM {ns}.force_plates ORDER BY plate")
    build = store.live("force_plates")
    assert build is not None
    dead = store.query(f'SELECT seq, error FROM "{build.schema}".dead_letters ORDER BY seq')
    store.close()
    assert rows == [{"tenant": tenant, "plate": "OWN1"}]  # nothing of the other force
    assert [d["seq"] for d in dead] == [mine[1].seq, mine[2].seq]
    assert "row-level security" in dead[0]["error"]
    assert "InsufficientPrivilege" in dead[1]["error"]
