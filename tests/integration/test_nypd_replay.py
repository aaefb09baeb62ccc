"""NYPD replay against a real nats-server: exactly once across crashes, restarts and outages."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from prestacop.adapters.topology import ensure_topology
from prestacop.bootstrap import LogClient, open_log
from prestacop.bootstrap import replayer as Replayer
from prestacop.domain import subjects
from prestacop.nypd_replay import checkpoint as ckpt
from prestacop.nypd_replay.batches import produce
from prestacop.nypd_replay.checkpoint import Checkpoint, Counters
from prestacop.nypd_replay.frames import Batch, Position
from prestacop.nypd_replay.replay import ReplayOptions
from prestacop.nypd_replay.source import identity
from prestacop.nypd_replay.stored import last_sequence, stored_ids
from prestacop.runtime.embedded import EmbeddedRuntime
from tests.conftest import wait_until
from tests.unit.test_nypd_translation import HEADER_43, ROW_43

PRESTACOP = str(Path(sys.executable).parent / "prestacop")


def ticket_file(path: Path, rows: int, first: int = 2_000_000) -> Path:
    """A 43-column file of distinct tickets, with one bad row every 1000."""
    with open(path, "w", newline="") as f:
        f.write(HEADER_43 + "\r\n")
        for i in range(rows):
            bad = i % 1000 == 999
            f.write(ROW_43.replace("1457617912", "" if bad else str(first + i), 1) + "\r\n")
    return path


def good_ids(name: str, tenant: str) -> set[str]:
    return {
        i for f in produce(name, tenant, batch_rows=5000) if isinstance(f, Batch) for i in f.ids
    }


async def held(log: LogClient, tenant: str) -> tuple[int, set[str]]:
    """How many history messages the tenant has, and their distinct ids."""
    info = await log.js.stream_info(
        subjects.HISTORY.name, subjects_filter=subjects.history(tenant, "*")
    )
    return sum((info.state.subjects or {}).values()), await stored_ids(log.source, tenant, 0)


def options(tmp_path: Path, tenant: str, **kw: object) -> ReplayOptions:
    return ReplayOptions(
        tenant=tenant, state_dir=tmp_path / "state", rejects=tmp_path / "rejects.csv", **kw
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("atomic", [True, False], ids=["atomic-batches", "per-message-acks"])
async def test_every_sample_file_lands_in_the_log_once_and_a_rerun_adds_nothing(
    log: LogClient, tenant: str, tmp_path: Path, shared_data: Path, atomic: bool
) -> None:
    files = sorted(str(p) for p in (shared_data / "nypd").iterdir() if p.suffix != ".md")
    url = log.nc.connected_url.geturl()
    first = await Replayer(url, options(tmp_path, tenant), atomic=atomic).run(files)
    assert first.ok and first.rows_read == first.events + first.duplicates + first.rejected
    count, ids = await held(log, tenant)
    expected = set().union(*(good_ids(f, tenant) for f in files))
    assert count == len(ids) == len(expected) == first.events and ids == expected
    again = await Replayer(log.nc.connected_url.geturl(), options(tmp_path, tenant)).run(files)
    assert all(f["already_done"] for f in again.files)
    assert (await held(log, tenant))[0] == count
    rejects = (tmp_path / "rejects.csv").read_text().splitlines()
    assert rejects[0] == "file,line,reason,detail,raw" and len(rejects) == first.rejected + 1


@pytest.mark.parametrize("atomic", [True, False], ids=["atomic-batches", "per-message-acks"])
async def test_a_resume_long_after_the_dedup_window_skips_what_the_log_already_holds(
    log: LogClient, tenant: str, tmp_path: Path, atomic: bool
) -> None:
    path = ticket_file(tmp_path / "t.csv", 3000)
    opts = options(tmp_path, tenant)
    # A run that sent 700 events and died before its first checkpoint after the start:
    floor = await last_sequence(log.source)
    frames = [f for f in produce(str(path), tenant, batch_rows=700) if isinstance(f, Batch)]
    for s, i, p in zip(frames[0].subjects, frames[0].ids, frames[0].payloads, strict=True):
        await log.publisher.publish_and_wait(s, p, i)
    ident = identity(str(path))
    assert ident is not None
    ckpt.save(
        ckpt.path_for(opts.state_dir, tenant, ident),
        Checkpoint(
            identity=ident, name=str(path), tenant=tenant, position=Position(), floor_seq=floor,
            rejects_path=str(opts.rejects), rejects_size=0, counters=Counters(),
        ),
    )  # fmt: skip
    report = await Replayer(log.nc.connected_url.geturl(), opts, atomic=atomic).run([str(path)])
    sent_before = len(frames[0].ids)
    # An ack lost under load makes the replay look its batch up too: also "found in log".
    assert report.found_in_log >= sent_before and report.duplicates == 0
    count, ids = await held(log, tenant)
    assert count == len(ids) == report.events + report.found_in_log
    assert ids == good_ids(str(path), tenant)


def _checkpoint_line(state: Path) -> int:
    for f in state.glob("*.json"):
        try:
            return int(json.loads(f.read_text())["position"]["line"])
        except (ValueError, KeyError):
            return 0
    return 0


@pytest.mark.parametrize("processes", ["--single-process", "--parse-process"])
async def test_a_replay_killed_mid_file_resumes_and_stores_each_good_summons_exactly_once(
    log: LogClient, nats_url: str, tenant: str, tmp_path: Path, processes: str
) -> None:
    path = ticket_file(tmp_path / "big.csv", 40_000)
    state, rejects = tmp_path / "state", tmp_path / "rejects.csv"
    cmd = [
        PRESTACOP, "nypd", "replay", str(path), "--tenant", tenant, "--no-progress",
        "--state-dir", str(state), "--rejects", str(rejects), "--report", str(tmp_path / "r.json"),
        processes,
    ]  # fmt: skip
    env = {**os.environ, "NATS_URL": nats_url}
    victim = subprocess.Popen(  # noqa: ASYNC220
        [*cmd, "--max-rate", "15000"], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await wait_until(lambda: _checkpoint_line(state) > 8000, timeout=30, what="progress")
    finally:
        os.killpg(victim.pid, signal.SIGKILL)  # the replay and its parse process, like kill -9
        victim.wait()
    killed_at = _checkpoint_line(state)
    assert killed_at < 40_000
    resumed = await asyncio.to_thread(
        subprocess.run, cmd, env=env, capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    count, ids = await held(log, tenant)
    expected = good_ids(str(path), tenant)
    assert count == len(ids) == len(expected) and ids == expected
    assert report["rows_read"] == 40_000 and report["rejected"] == 40
    assert len(rejects.read_text().splitlines()) == 41  # each reject listed once


@pytest.mark.parametrize("atomic", [True, False], ids=["atomic-batches", "per-message-acks"])
async def test_a_nats_outage_pauses_the_replay_and_it_resumes_when_the_server_is_back(
    tmp_path: Path, tenant: str, atomic: bool
) -> None:
    # open (explicitly): a server of its own to cut and restart; secured replays are the session's
    runtime = EmbeddedRuntime(tmp_path / "rt", postgres=False, secure=False)
    urls = runtime.start()
    try:
        path = ticket_file(tmp_path / "t.csv", 20_000)
        messages: list[str] = []

        class Listener:
            def started(self, *args: object) -> None: ...
            def advanced(self, *args: object) -> None: ...
            def status(self, message: str) -> None:
                messages.append(message)

        opts = options(tmp_path, tenant, max_rate=4000.0)
        replayer = Replayer(
            urls.nats_url, opts, Listener(), window=2000, ack_timeout=1.5, atomic=atomic
        )
        task = asyncio.create_task(replayer.run([str(path)]))
        log = await open_log(urls.nats_url, "outage-test")
        await ensure_topology(log.js)

        async def stored() -> int:  # a count only: reading every id per poll is slow under load
            info = await log.js.stream_info(
                subjects.HISTORY.name, subjects_filter=subjects.history(tenant, "*")
            )
            return sum((info.state.subjects or {}).values())

        await wait_until(lambda: stored(), timeout=20, what="first events")
        await wait_until(lambda: _at_least(stored(), 3000), timeout=20, what="3000 events")
        runtime.kill_nats()
        await wait_until(lambda: any("paused" in m for m in messages), timeout=20, what="pause")
        assert not task.done()
        runtime.restart_nats()
        report = await asyncio.wait_for(task, timeout=60)
        assert any("resumed" in m for m in messages)
        await wait_until(lambda: log.nc.is_connected, timeout=20, what="test client reconnect")
        count, ids = await held(log, tenant)
        assert count == len(ids) == len(good_ids(str(path), tenant)) and report.ok
        await log.close()
    finally:
        runtime.stop()


async def _at_least(value: object, n: int) -> bool:
    return await value >= n  # type: ignore[misc,operator]


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRESTACOP_TENANT", raising=False)
