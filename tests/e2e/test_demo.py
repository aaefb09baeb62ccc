"""``prestacop demo`` as a user runs it: a real process, real servers, a clean exit."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from prestacop.bootstrap import LogClient
from prestacop.domain import subjects
from tests.conftest import wait_until

DEMO = [sys.executable, "-m", "prestacop.cli", "demo", "--no-console", "--drones", "3"]
BUSY = ["--rate", "5", "--violation-ratio", "0.5", "--review-ratio", "0.5", "--seed", "4"]


def env_for(home: Path, **servers: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "DATABASE_URL")}
    return {**env, "PRESTACOP_HOME": str(home), "PRESTACOP_LOG": "ERROR", **servers}


async def demo_run(args: list[str], env: dict[str, str], timeout: float) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def count(log: LogClient, stream: str, subject: str) -> int:
    info = await log.js.stream_info(stream, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def test_the_demo_runs_drones_and_gate_on_given_servers_for_its_duration(
    log: LogClient, nats_url: str, database_url: str, tenant: str, tmp_path: Path
) -> None:
    code, out, err = await demo_run(
        [*DEMO, *BUSY, "--duration", "3", "--tenant", tenant],
        env_for(tmp_path, NATS_URL=nats_url, DATABASE_URL=database_url),
        timeout=60,
    )
    assert code == 0, out + err
    final = out.strip().splitlines()[-1]
    assert re.search(r"positions [1-9]\d*, violations [1-9]", final), out
    assert await count(log, subjects.DRONES.name, f"prestacop.{tenant}.drone.*.position") >= 20
    assert await count(log, subjects.DRONES.name, f"prestacop.{tenant}.drone.*.violation") > 0
    assert await count(log, subjects.ALERTS.name, f"prestacop.{tenant}.review.*") > 0
    assert await count(log, subjects.QUARANTINE.name, f"prestacop.{tenant}.quarantine.*") == 0
    assert not (tmp_path / "runtime.json").exists()  # it started no runtime of its own


async def test_ctrl_c_stops_the_demo_cleanly(
    log: LogClient, nats_url: str, database_url: str, tenant: str, tmp_path: Path
) -> None:
    demo = await asyncio.create_subprocess_exec(
        *DEMO,
        *["--rate", "5", "--tenant", tenant],
        env=env_for(tmp_path, NATS_URL=nats_url, DATABASE_URL=database_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        subject = f"prestacop.{tenant}.drone.*.position"

        async def flying() -> bool:
            return await count(log, subjects.DRONES.name, subject) > 0

        await wait_until(flying, timeout=30, what="the demo's drones to report")
        demo.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(demo.communicate(), 30)
    finally:
        if demo.returncode is None:
            demo.kill()
    assert demo.returncode == 0, (out + err).decode()
    assert "positions" in out.decode().splitlines()[-1]


def port_open(url: str) -> bool:
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    return True


def test_the_demo_starts_its_own_runtime_and_stops_it_on_exit(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = subprocess.run(
        [*DEMO, "--rate", "2", "--duration", "2", "--tenant", "nypd"],
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    started = re.search(r"NATS (nats://\S+), PostgreSQL (\S+)", result.stdout)
    assert started and started[2] != "None", result.stdout
    assert re.search(r"positions [1-9]", result.stdout.strip().splitlines()[-1])
    assert not port_open(started[1])
    assert not (home / "runtime.json").exists()
    assert not list(home.rglob("postmaster.pid"))  # PostgreSQL shut down too
    # secured, as `prestacop up`: the force's account and service credentials, a CA
    assert (home / "secrets" / "tenants" / "nypd" / "service.creds").exists()
    assert (home / "secrets" / "tls" / "ca.pem").exists()


async def test_the_demo_has_an_alert_for_the_console_within_seconds(
    log: LogClient, nats_url: str, database_url: str, tenant: str, tmp_path: Path
) -> None:
    """With the demo's defaults, the first human-review alert follows the first drone report
    within seconds, not after about 40 s."""
    demo = await asyncio.create_subprocess_exec(
        *DEMO[:-2],  # the demo's own defaults: 10 drones, 1 report/s each
        "--tenant",
        tenant,
        env=env_for(tmp_path, NATS_URL=nats_url, DATABASE_URL=database_url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:

        async def flying() -> bool:
            positions = f"prestacop.{tenant}.drone.*.position"
            return await count(log, subjects.DRONES.name, positions) > 0

        async def alerted() -> bool:
            return await count(log, subjects.ALERTS.name, f"prestacop.{tenant}.review.*") > 0

        await wait_until(flying, timeout=30, what="the demo's drones to report")
        await wait_until(alerted, timeout=8, what="a human-review alert")
    finally:
        demo.send_signal(signal.SIGINT)
        await asyncio.wait_for(demo.wait(), 30)
