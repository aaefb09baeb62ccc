"""A force added while the services run is served without a restart (issue 9, item 2).

``prestacop gate run`` and ``prestacop project run`` run (secured, every force of the
home); nypd's drone keeps reporting; ``prestacop tenant add lapd`` is run beside them. lapd's
drone then reports a violation, a human-review one and a message that is no event: the gate
sets the bad one aside in lapd's account, the runner puts lapd's events in the shared views,
while nypd's keep arriving. The runner is then SIGKILLed and started again: nothing doubled.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from prestacop import bootstrap
from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.domain import subjects
from prestacop.security.authority import Authority
from tests.conftest import wait_until
from tests.projection_support import namespace
from tests.security.conftest import own_runtime, trusting

ROOT = [sys.executable, "-c", "from prestacop.cli.main import app; app()"]
DEADLINE_S = 60.0
pytestmark = pytest.mark.timeout(400)


@dataclass
class Home:
    url: str
    home: Path
    env: dict[str, str]
    """The operator's machine: this home, its CA, the servers, no user credentials."""

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*ROOT, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
        return done

    def start(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as sink:
            return subprocess.Popen([*ROOT, *args], env=self.env, stdout=sink, stderr=sink)


@pytest.fixture
async def home(database_url: str, tmp_path: Path) -> AsyncIterator[Home]:
    """A secured nats-server of its own whose home has one force, nypd."""
    async with own_runtime("prestacop-onboard-", ["nypd"]) as rt:
        urls = rt.urls
        assert urls is not None and urls.nats_ca
        env = {k: v for k, v in os.environ.items() if k != "NATS_CREDS"}
        env |= {
            "PRESTACOP_HOME": str(rt.home),
            "NATS_URL": urls.nats_url,
            "NATS_CA": urls.nats_ca,
            "DATABASE_URL": database_url,
        }
        with trusting(urls.nats_ca):
            yield Home(urls.nats_url, rt.home, env)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in started:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def start_services(
    home: Home, database_url: str, processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> tuple[str, Path, subprocess.Popen[bytes], ProjectionStore]:
    """The home's gate and projection runner as processes (stopped by ``processes``), both
    logging to one file: the views' namespace, that log, the runner and its store."""
    ns = namespace()
    logs = tmp_path / "services.log"
    processes.append(home.start("gate", "run", log=logs))
    runner = home.start("project", "run", "--namespace", ns, log=logs)
    processes.append(runner)
    return ns, logs, runner, ProjectionStore(database_url, ns)


def counts(store: ProjectionStore, ns: str, force: str) -> dict[str, int]:
    def one(query: str) -> int:
        try:
            return int(store.query(query, (force,))[0]["n"])
        except Exception:  # the views not made yet
            return -1

    return {
        "violations": one(f"SELECT count(*) AS n FROM {ns}.violations WHERE tenant = %s"),
        "reviews": one(f"SELECT count(*) AS n FROM {ns}.alerts WHERE tenant = %s AND is_review"),
        "rejected": one(f"SELECT count(*) AS n FROM {ns}.rejected WHERE tenant = %s"),
    }


async def test_a_force_added_while_the_services_run_is_served_without_a_restart(
    home: Home,
    database_url: str,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    ns, logs, runner, store = start_services(home, database_url, processes, tmp_path)
    creds = {}
    for force, drone in (("nypd", "n1"), ("lapd", "l1")):
        creds[force] = tmp_path / f"{drone}.creds"
    creds["nypd"].write_text(Authority(home.home).issue("nypd", "drone", "n1"))

    nypd_acked = 0
    flying = asyncio.Event()
    flying.set()

    async def nypd_flies() -> None:
        nonlocal nypd_acked
        async with bootstrap.drone("nypd", "n1", home.url, creds=creds["nypd"]) as d:
            while flying.is_set():
                await d.report_violation(21, b"nypd-jpeg", 40.7, -73.9)
                nypd_acked += 1
                await asyncio.sleep(0.05)

    nypd = asyncio.create_task(nypd_flies())
    try:

        async def nypd_seen(at_least: int) -> bool:
            assert not nypd.done() or nypd.exception() is None, nypd.exception()
            assert runner.poll() is None, logs.read_text()
            got = await asyncio.to_thread(counts, store, ns, "nypd")
            return got["violations"] >= at_least

        await wait_until(
            lambda: nypd_seen(5), timeout=DEADLINE_S, interval=0.2, what="nypd projected"
        )

        home.cli("tenant", "add", "lapd")
        added_at = nypd_acked
        home.cli("creds", "drone", "--tenant", "lapd", "--drone", "l1", "-o", str(creds["lapd"]))
        async with bootstrap.drone("lapd", "l1", home.url, creds=creds["lapd"]) as d:
            await d.report_violation(21, b"lapd-jpeg", 34.05, -118.24)
            await d.request_review(b"lapd-review", 34.05, -118.25)
            await d.log.publisher.publish_and_wait(subjects.position("lapd", "l1"), b"not json")

        async def lapd_served() -> bool:
            assert runner.poll() is None, logs.read_text()
            got = await asyncio.to_thread(counts, store, ns, "lapd")
            return got == {"violations": 2, "reviews": 1, "rejected": 1}

        await wait_until(
            lapd_served, timeout=DEADLINE_S, interval=0.2, what="lapd validated and projected"
        )
        # nypd kept flowing: what its drone sent after lapd came is projected too
        await wait_until(
            lambda: nypd_seen(added_at + 5), timeout=DEADLINE_S, interval=0.2, what="nypd flows"
        )
    finally:
        flying.clear()
        await nypd
    assert "not json" not in logs.read_text()  # the gate says why, never the bytes

    async def nypd_all() -> bool:
        return (await asyncio.to_thread(counts, store, ns, "nypd"))["violations"] == nypd_acked

    await wait_until(
        nypd_all, timeout=DEADLINE_S, interval=0.2, what="every nypd violation projected"
    )

    runner.send_signal(signal.SIGKILL)  # once lapd is read: its positions must hold
    runner.wait()
    processes.append(home.start("project", "run", "--namespace", ns, log=logs))
    async with bootstrap.drone("lapd", "l1", home.url, creds=creds["lapd"]) as d:
        await d.report_violation(21, b"lapd-jpeg-2", 34.05, -118.24)

    async def after_restart() -> bool:
        got = await asyncio.to_thread(counts, store, ns, "lapd")
        return got["violations"] == 3

    await wait_until(
        after_restart, timeout=DEADLINE_S, interval=0.2, what="lapd read again after restart"
    )
    assert await asyncio.to_thread(counts, store, ns, "lapd") == {
        "violations": 3,
        "reviews": 1,
        "rejected": 1,
    }
    assert (await asyncio.to_thread(counts, store, ns, "nypd"))["violations"] == nypd_acked
    text = logs.read_text()
    assert text.count("force lapd added") == 2, text  # the gate's and the runner's
    store.close()


async def test_a_force_whose_account_does_not_answer_does_not_hold_back_the_others(
    home: Home,
    database_url: str,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    """sfpd is in the home's authority but its account was never pushed (a `tenant add`
    cut after its first step): the servers refuse its credentials. nypd is served all the
    same; sfpd is served as soon as `tenant add sfpd` is run again."""
    Authority(home.home).add_tenant("sfpd")  # the account made here, not on the servers
    ns, logs, runner, store = start_services(home, database_url, processes, tmp_path)

    async def report(force: str, drone: str) -> None:
        creds = tmp_path / f"{drone}.creds"
        home.cli("creds", "drone", "--tenant", force, "--drone", drone, "-o", str(creds))
        async with bootstrap.drone(force, drone, home.url, creds=creds) as d:
            await d.report_violation(21, f"{force}-jpeg".encode(), 40.7, -73.9)
            await d.log.publisher.publish_and_wait(subjects.position(force, drone), b"{")

    async def served(force: str) -> bool:
        assert runner.poll() is None, logs.read_text()
        got = await asyncio.to_thread(counts, store, ns, force)
        return got == {"violations": 1, "reviews": 0, "rejected": 1}

    await report("nypd", "n1")
    await wait_until(lambda: served("nypd"), timeout=DEADLINE_S, interval=0.2, what="nypd served")
    assert logs.read_text().count("force sfpd unreachable") == 2  # the gate's and the runner's

    home.cli("tenant", "add", "sfpd")
    await report("sfpd", "s1")
    await wait_until(lambda: served("sfpd"), timeout=DEADLINE_S, interval=0.2, what="sfpd served")
    assert await served("nypd")
    store.close()
