"""One projection runner serves every force, each force read from its own account (issue 9).

Both forces' accounts have streams of the same names; here they also hold the same
message ids, drone ids and log positions (lapd's events are the first part of nypd's).
One ``prestacop project run`` process, SIGKILLed at random moments during the load and
started again, puts both into one set of views: each force's events exactly once, under
its own name, counted against what was published; a rebuild gives the same rows.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo
from psycopg.rows import dict_row

from prestacop import bootstrap
from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.adapters.postgres_security import create_analyst
from prestacop.adapters.publisher import PubAck
from prestacop.bootstrap import LogClient, open_log
from prestacop.config import Settings
from prestacop.domain import codec
from prestacop.domain.events import PositionReported, ViolationReported
from prestacop.domain.subjects import quarantine
from prestacop.gate.records import encoder, quarantine_record
from prestacop.projections.catalog import BUILTINS
from prestacop.projections.sample_log import sample_events
from prestacop.runtime.embedded import RuntimeUrls
from tests.conftest import wait_until
from tests.projection_support import namespace, publish
from tests.security.conftest import own_runtime

FORCES = ("nypd", "lapd")
EVENTS = {"nypd": 6_000, "lapd": 4_000}
"""lapd's events are nypd's first 4,000: same ids, drones and positions, other counts."""
KILLS = 3
ROOT = [sys.executable, "-c", "from prestacop.cli.main import app; app()"]


@dataclass
class Forces:
    url: str
    home: Path
    ca: str

    def connections(self) -> list[bootstrap.Connection]:
        """What ``project run`` reads on the operator's machine: one account per force."""
        return bootstrap.forces(Settings(home=self.home), RuntimeUrls(self.url, None, 0))


@pytest.fixture(scope="module")
async def forces() -> AsyncIterator[Forces]:
    """A secured nats-server of this module's own with exactly two forces (nothing else
    in their accounts, so every count is against what this module published)."""
    async with own_runtime("prestacop-forces-", FORCES) as rt:
        assert rt.urls is not None and rt.urls.nats_ca
        yield Forces(rt.urls.nats_url, rt.home, rt.urls.nats_ca)


@pytest.fixture
def operator_env(forces: Forces, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The operator's machine: the home's CA, no user credentials given."""
    monkeypatch.setenv("NATS_CA", forces.ca)
    monkeypatch.delenv("NATS_CREDS", raising=False)
    env = {k: v for k, v in os.environ.items() if k != "NATS_CREDS"}
    return {**env, "PRESTACOP_HOME": str(forces.home), "NATS_URL": forces.url}


def events_of(force: str) -> list[tuple[str, bytes, str]]:
    """The same sample for every force (ids, drones), under that force's subjects."""
    items = [
        (subject.replace("prestacop.x.", f"prestacop.{force}.", 1), data, mid)
        for subject, data, mid in sample_events("x", EVENTS[force], seed=9)
    ]
    record = quarantine_record(  # the same position in both accounts: two rows
        "PRESTACOP_DRONES", 7, f"prestacop.{force}.drone.x.position", datetime.now(UTC),
        "bad_json", "-", b"{",
    )  # fmt: skip
    items.insert(50, (quarantine(force, "PRESTACOP_DRONES"), encoder.encode(record), "q-7"))
    return items


def start_runner(env: dict[str, str], database_url: str, ns: str, err: Path) -> subprocess.Popen:
    with err.open("ab") as sink:
        return subprocess.Popen(
            [*ROOT, "project", "run", "--namespace", ns],
            env={**env, "DATABASE_URL": database_url},
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


def progress(store: ProjectionStore, name: str) -> dict[tuple[str, str], int]:
    """The live build's positions by (force, stream); none before the runner set up."""
    try:
        build = store.live(name)
        if build is None:
            return {}
        rows = store.query(f'SELECT tenant, stream, seq FROM "{build.schema}".progress')
    except Exception:  # the namespace or the build's tables not made yet
        return {}
    return {(r["tenant"], r["stream"]): r["seq"] for r in rows}


def caught_up(store: ProjectionStore, acks: dict[str, list[PubAck]]) -> bool:
    """Every built-in view has committed past the last ack of each stream of each force."""
    for name, cls in BUILTINS.items():
        got = progress(store, name)
        for force, force_acks in acks.items():
            for ack in force_acks:
                if ack.stream in cls.streams and got.get((force, ack.stream), 0) < ack.seq:
                    return False
    return True


def table_rows(store: ProjectionStore, ns: str, table: str, tenant: str) -> list[tuple]:
    result = store.query(f"SELECT * FROM {ns}.{table} WHERE tenant = %s", (tenant,))
    return sorted((tuple(r.values()) for r in result), key=repr)


def expected(force: str) -> dict[str, int]:
    """What the log holds for ``force``, counted from what was published."""
    events = [
        (subject, codec.decode_event(data))
        for subject, data, _ in events_of(force)
        if ".quarantine." not in subject
    ]
    violations = [e for _, e in events if isinstance(e, ViolationReported)]
    return {
        "violations": len(violations),
        "reviews": sum(".review." in s for s, e in events if isinstance(e, ViolationReported)),
        "positions": sum(isinstance(e, PositionReported) for _, e in events),
    }


def counts(store: ProjectionStore, ns: str, force: str) -> dict[str, int]:
    def one(query: str) -> int:
        return int(store.query(query, (force,))[0]["n"])

    return {
        "violations": one(f"SELECT count(*) AS n FROM {ns}.violations WHERE tenant = %s"),
        "reviews": one(f"SELECT count(*) AS n FROM {ns}.alerts WHERE tenant = %s AND is_review"),
        "positions": one(
            f"SELECT coalesce(sum(positions), 0) AS n FROM {ns}.drones WHERE tenant = %s"
        ),
    }


@pytest.fixture
async def services(forces: Forces, operator_env: dict[str, str]) -> AsyncIterator[dict]:
    clients: dict[str, LogClient] = {}
    for force in FORCES:
        conn = next(c for c in forces.connections() if c.tenant == force)
        creds = Path(str(conn.creds))
        clients[force] = await open_log(forces.url, f"load-{force}", setup=False, creds=creds)
    yield clients
    for client in clients.values():
        await client.close()


pytestmark = pytest.mark.timeout(600)


async def test_one_runner_projects_every_force_exactly_once_through_sigkills(
    forces: Forces,
    operator_env: dict[str, str],
    services: dict[str, LogClient],
    database_url: str,
    tmp_path: Path,
) -> None:
    assert [c.tenant for c in forces.connections()] == sorted(FORCES)
    ns = namespace()
    rnd = random.Random()
    acks: dict[str, list[PubAck]] = {f: [] for f in FORCES}

    async def load() -> None:
        items = {f: events_of(f) for f in FORCES}
        for i in range(0, max(len(v) for v in items.values()), 500):
            for force in FORCES:  # both forces' positions rise side by side
                acks[force] += await publish(services[force], items[force][i : i + 500])
            await asyncio.sleep(0.05)  # a steady load, not synchronisation

    loading = asyncio.create_task(load())
    store = ProjectionStore(database_url, ns)
    err = tmp_path / "runner.err"
    try:
        for _ in range(KILLS):
            proc = start_runner(operator_env, database_url, ns, err)

            def started(p: subprocess.Popen = proc) -> bool:
                return p.poll() is not None or bool(progress(store, "violations"))

            await wait_until(started, timeout=30, what="runner committed")
            assert proc.poll() is None, err.read_text()
            await asyncio.sleep(rnd.uniform(0.1, 1.2))  # a random moment of its work
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
        await loading
        proc = start_runner(operator_env, database_url, ns, err)
        try:
            await wait_until(
                lambda: caught_up(store, acks), timeout=120, what="restarted runner caught up"
            )
            status = await asyncio.to_thread(
                subprocess.run,
                [*ROOT, "project", "status", "--namespace", ns, "--json"],
                env={**operator_env, "DATABASE_URL": database_url},
                capture_output=True,
                timeout=60,
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 30)
    finally:
        loading.cancel()
    # nothing lost, nothing doubled: each force's rows against what it published
    for force in FORCES:
        assert counts(store, ns, force) == expected(force), force
    assert expected("nypd") != expected("lapd")
    tenants = store.query(f"SELECT DISTINCT tenant FROM {ns}.violations ORDER BY tenant")
    assert [r["tenant"] for r in tenants] == sorted(FORCES)
    rejected = store.query(f"SELECT tenant, stream, seq FROM {ns}.rejected ORDER BY tenant")
    assert rejected == [
        {"tenant": f, "stream": "PRESTACOP_DRONES", "seq": 7} for f in sorted(FORCES)
    ]
    # positions per force in `project status`
    assert status.returncode == 0, status.stderr.decode()
    doc = json.loads(status.stdout)
    violations = next(b for b in doc["builds"] if b["name"] == "violations")
    for force in FORCES:
        last = max(a.seq for a in acks[force] if a.stream == "PRESTACOP_DRONES")
        assert violations["positions"][f"{force}/PRESTACOP_DRONES"] == last
        assert violations["heads"][f"{force}/PRESTACOP_DRONES"] == last
    assert violations["lag_events"] == 0
    # a rebuild reads every force too, and gives the same rows
    fresh = namespace()
    await bootstrap.rebuild_projections(forces.connections(), database_url, None, namespace=fresh)
    compared = 0
    for cls in BUILTINS.values():
        for table in cls.tables:
            for force in FORCES:
                live = table_rows(store, ns, table, force)
                assert live == table_rows(store, fresh, table, force), (table, force)
                compared += len(live)
    assert compared > 5_000
    # row-level security still confines each force's analyst to its rows of the shared views
    with psycopg.connect(database_url, autocommit=True) as conn, conn.cursor() as cur:
        role, password = create_analyst(cur, "lapd")
    params = conninfo.conninfo_to_dict(database_url)
    params.update(user=role, password=password)
    params.pop("passfile", None)
    with psycopg.connect(conninfo.make_conninfo(**params), row_factory=dict_row) as conn:
        seen = conn.execute(f"SELECT tenant, count(*) AS n FROM {ns}.violations GROUP BY 1")
        assert seen.fetchall() == [{"tenant": "lapd", "n": expected("lapd")["violations"]}]
    store.close()


async def test_a_force_whose_account_names_another_force_is_not_taken_for_it(
    forces: Forces, operator_env: dict[str, str], services: dict[str, LogClient],
    database_url: str,
) -> None:  # fmt: skip
    """lapd's services (the only role that may) write under nypd's name in lapd's account:
    the runner does not count it as nypd's, and goes on."""
    ns = namespace()
    drone = "forger-" + os.urandom(4).hex()
    event = PositionReported(
        message_id=drone, drone_id=drone, time=datetime.now(UTC), latitude=40.7, longitude=-74.0
    )
    forged = await publish(
        services["lapd"], [(codec.subject_for("nypd", event), codec.encode(event), drone)]
    )
    own = await publish(
        services["lapd"], [(codec.subject_for("lapd", event), codec.encode(event), drone + "-l")]
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        bootstrap.run_projections(
            forces.connections(), database_url, stop, ["drones"], namespace=ns
        )
    )
    store = ProjectionStore(database_url, ns)
    try:
        await wait_until(
            lambda: progress(store, "drones").get(("lapd", "PRESTACOP_DRONES"), 0) >= own[0].seq,
            timeout=60,
            what="lapd's drones caught up",
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    rows = store.query(f"SELECT tenant FROM {ns}.drones WHERE drone_id = %s", (drone,))
    store.close()
    assert forged[0].seq < own[0].seq
    assert rows == [{"tenant": "lapd"}]


def test_a_rebuild_of_built_in_views_for_one_force_is_refused(
    forces: Forces, operator_env: dict[str, str], database_url: str
) -> None:
    result = subprocess.run(
        [*ROOT, "project", "rebuild", "--tenant", "lapd", "--namespace", namespace()],
        env={**operator_env, "DATABASE_URL": database_url},
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert b"reads every force" in result.stderr + result.stdout


async def test_a_forces_own_projection_reads_and_reports_that_forces_account_only(
    forces: Forces, operator_env: dict[str, str], services: dict[str, LogClient],
    database_url: str,
) -> None:  # fmt: skip
    from tests.security.test_postgres_isolation import FORCE_PLATES

    mid = "own-" + os.urandom(4).hex()
    event = ViolationReported(
        message_id=mid, drone_id="d1", time=datetime.now(UTC), latitude=40.7, longitude=-74.0,
        violation_code=21, image_id=f"img-{mid}", plate="OWN",
    )  # fmt: skip
    acks = {
        f: await publish(services[f], [(codec.subject_for(f, event), codec.encode(event), mid)])
        for f in FORCES
    }
    ns = namespace()
    stop = asyncio.Event()
    task = asyncio.create_task(
        bootstrap.run_projections(
            forces.connections(), database_url, stop, [], [FORCE_PLATES], namespace=ns,
            tenant="lapd",
        )
    )  # fmt: skip
    store = ProjectionStore(database_url, ns)
    try:
        await wait_until(
            lambda: (
                progress(store, "force_plates").get(("lapd", "PRESTACOP_DRONES"), 0)
                >= acks["lapd"][0].seq
            ),
            timeout=60,
            what="lapd's own projection caught up",
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert set(progress(store, "force_plates")) == {("lapd", "PRESTACOP_DRONES")}
    plates = store.query(f"SELECT DISTINCT tenant FROM {ns}.force_plates")
    store.close()
    assert plates == [{"tenant": "lapd"}]
    streams_of = {"force_plates": ("PRESTACOP_DRONES",)}
    url = RuntimeUrls(forces.url, database_url, 0)
    [status] = await bootstrap.projection_status(url, ns, streams_of, forces.connections())
    assert list(status.heads) == ["lapd/PRESTACOP_DRONES"]  # nypd's is not its lag
    assert status.lag_events == 0
