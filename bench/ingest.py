"""Ingest benchmark: N drones publishing positions through the SDK, against raw nats-py.

Starts its own nats-server (embedded runtime in a temporary folder, no
PostgreSQL), creates the topology, then runs each publisher in its own process
(so each one's peak RSS is its own), alternating the order, ``--runs`` times:

- ``sdk``: ``DroneClient.report_position(wait=False)``: build the event, validate it
  exactly as the receiver will, publish with our ``Publisher`` (windowed, own acks);
- ``publisher``: the same ``Publisher`` with pre-encoded bytes (the transport alone);
- ``raw``: nats-py ``js.publish_async`` with a payload of the same size (the baseline);
- ``sdk_secured``: ``sdk`` against a second server in the secured mode (operator, the
  force's own account, TLS, a ``.creds`` file): the cost of security, same run;
- with ``--split``: ``sdk_tls`` (TLS alone, no accounts) and ``sdk_accounts`` (operator
  mode and the force's account, no TLS), each on a server of its own: which half costs;
- with ``--uvloop``: ``sdk_uvloop`` and ``sdk_secured_uvloop``, the same on uvloop's
  event loop (its TLS is compiled; asyncio's is pure Python on 3.11).

All send ``Nats-Msg-Id`` (de-duplication on), to the same stream, from N concurrent
drone tasks sharing one connection, with the same window of unacknowledged messages.
Prints JSON: events/s, publish-to-ack latency p50/p99, peak RSS, the publisher's and the
nats-server's CPU per event (medians over the runs), and the ratios to the baselines. On a
shared machine the CPU per event is the steadier figure: wall time follows the load.

    .venv/bin/python -m bench.ingest --drones 50 --messages 30000,300000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.scale import at_sizes, sizes

MODES = ("raw", "publisher", "sdk", "sdk_secured")
SPLIT = ("sdk_tls", "sdk_accounts")
UVLOOP = ("sdk_uvloop", "sdk_secured_uvloop")
TARGET_RATIO = 1.5
SECURED_TARGET = 1.10  # the secured path at most 10% slower than the plain one


def sample_payload(drone_id: str) -> bytes:
    """A position report as the SDK sends it (its size is the raw baseline's payload size)."""
    from prestacop.domain.codec import encode
    from prestacop.domain.events import PositionReported

    return encode(
        PositionReported(
            message_id=uuid.uuid4().hex,
            drone_id=drone_id,
            time=datetime.now(UTC),
            latitude=40.758912,
            longitude=-73.985130,
            altitude_m=35.2,
            heading_deg=28.9,
            speed_mps=6.31,
            battery_pct=83.42,
        )
    )


class Latencies:
    def __init__(self) -> None:
        self.values: list[float] = []
        self.failures = 0

    def track(self, fut: asyncio.Future[Any], sent: float) -> None:
        def done(f: asyncio.Future[Any]) -> None:
            if f.cancelled() or f.exception() is not None:
                self.failures += 1
            else:
                self.values.append(time.perf_counter() - sent)

        fut.add_done_callback(done)


SendOne = Callable[[int, int], Awaitable[asyncio.Future[Any]]]


async def drive(drones: int, messages: int, send: SendOne, lat: Latencies) -> float:
    """N drone tasks send ``messages`` in all; returns seconds until the last one was sent."""
    per_drone = messages // drones
    start = time.perf_counter()

    async def fly(d: int) -> None:
        for i in range(per_drone):
            sent = time.perf_counter()
            lat.track(await send(d, i), sent)

    await asyncio.gather(*(fly(d) for d in range(drones)))
    return start


async def worker(
    mode: str,
    nats_url: str,
    drones: int,
    messages: int,
    window: int,
    payload: bytes,
    server_pid: int,
) -> dict:
    """One publisher's run; CPU (its own and the server's) counted from the first send to
    the last ack, not the imports nor the connection's set-up."""
    tenant = "bench" + uuid.uuid4().hex[:8]
    ids = [f"d{d:04d}" for d in range(drones)]
    topics = [f"prestacop.{tenant}.drone.{i}.position" for i in ids]
    lat = Latencies()
    messages = messages // drones * drones

    if mode == "raw":  # nats-py alone: nothing of prestacop is imported (its RSS is its own)
        import nats

        nc = await nats.connect(nats_url, pending_size=8 * 1024 * 1024)
        js = nc.jetstream(publish_async_max_pending=window)

        async def send_raw(d: int, i: int) -> asyncio.Future[Any]:
            hdrs = {"Nats-Msg-Id": os.urandom(16).hex()}
            return await js.publish_async(topics[d], payload, headers=hdrs)

        cpu = _cpu_s(), server_cpu_s(server_pid)
        start = await drive(drones, messages, send_raw, lat)
        await js.publish_async_completed()
        elapsed = time.perf_counter() - start
        cpu = _cpu_s() - cpu[0], server_cpu_s(server_pid) - cpu[1]
        await nc.drain()
    else:
        from prestacop.bootstrap import open_log
        from prestacop.drone import DroneClient

        log = await open_log(nats_url, f"bench-{mode}", window=window, setup=False)
        clients = [await DroneClient(tenant, i, log=log).connect() for i in ids]

        async def send_publisher(d: int, i: int) -> asyncio.Future[Any]:
            return await log.publisher.publish(topics[d], payload, msg_id=os.urandom(16).hex())

        async def send_sdk(d: int, i: int) -> asyncio.Future[Any]:
            fut = await clients[d].report_position(
                40.758912 + i * 1e-6,
                -73.985130,
                altitude_m=35.2,
                heading_deg=28.9,
                speed_mps=6.31,
                battery_pct=83.42,
                wait=False,
            )
            assert isinstance(fut, asyncio.Future)
            return fut

        send = send_sdk if mode.startswith("sdk") else send_publisher
        cpu = _cpu_s(), server_cpu_s(server_pid)
        start = await drive(drones, messages, send, lat)
        await log.publisher.flush()
        elapsed = time.perf_counter() - start
        cpu = _cpu_s() - cpu[0], server_cpu_s(server_pid) - cpu[1]
        await log.close()

    lat_ms = sorted(v * 1000 for v in lat.values)
    return {
        "mode": mode,
        "messages": messages,
        "acked": len(lat_ms),
        "failures": lat.failures,
        "events_per_s": round(len(lat_ms) / elapsed),
        "ack_latency_ms_p50": round(lat_ms[len(lat_ms) // 2], 2),
        "ack_latency_ms_p99": round(lat_ms[int(len(lat_ms) * 0.99)], 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpu_us_per_event": round(cpu[0] / max(len(lat_ms), 1) * 1e6, 2),
        "server_cpu_us_per_event": round(cpu[1] / max(len(lat_ms), 1) * 1e6, 2),
        "payload_bytes": len(payload),
    }


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_worker(
    mode: str, urls: Any, args: argparse.Namespace, env: dict[str, str] | None = None
) -> dict:
    cmd = [
        sys.executable, "-m", "bench.ingest", "--worker", mode, "--nats-url", urls.nats_url,
        "--server-pid", str(urls.nats_pid),
        "--drones", str(args.drones), "--messages", str(args.messages),
        "--window", str(args.window), "--payload-hex", sample_payload("d0000").hex(),
    ]  # fmt: skip
    done = subprocess.run(  # -m from the repository root: the workers import bench.*
        cmd, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{mode} worker failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_of(results: list[dict]) -> dict:
    keys = (
        "events_per_s", "ack_latency_ms_p50", "ack_latency_ms_p99", "peak_rss_mb",
        "cpu_us_per_event", "server_cpu_us_per_event",
    )  # fmt: skip
    out = {k: statistics.median(r[k] for r in results) for k in keys}
    out["failures"] = sum(r["failures"] for r in results)
    out["payload_bytes"] = results[0]["payload_bytes"]
    out["runs_events_per_s"] = [r["events_per_s"] for r in results]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drones", type=int, default=50)
    parser.add_argument(
        "--messages", type=sizes, default="30000,300000", help="per publisher and run, sizes"
    )
    parser.add_argument("--window", type=int, default=256, help="unacknowledged messages")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--split", action="store_true", help="TLS alone, accounts alone too")
    parser.add_argument("--uvloop", action="store_true", help="the SDK on uvloop too")
    parser.add_argument("--worker", choices=MODES + SPLIT + UVLOOP, help=argparse.SUPPRESS)
    parser.add_argument("--nats-url", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--payload-hex", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.uvloop and importlib.util.find_spec("uvloop") is None:
        parser.error("--uvloop needs uvloop (not a dependency of PrestaCop): pip install uvloop")
    if args.worker:
        job = worker(
            args.worker,
            args.nats_url,
            args.drones,
            args.messages[0],
            args.window,
            bytes.fromhex(args.payload_hex),
            args.server_pid,
        )
        if args.worker.endswith("_uvloop"):
            import uvloop

            result = uvloop.run(job)
        else:
            result = asyncio.run(job)
        print(json.dumps(result))
        return

    if args.worker:  # one size, given as a one-item list
        return
    growth = (
        "sdk_report_position.events_per_s",
        "sdk_report_position.cpu_us_per_event",
        "sdk_report_position.peak_rss_mb",
        "raw_nats_py_publish_async.events_per_s",
        "sdk_secured_tls_accounts.events_per_s",
    )
    print(json.dumps(at_sizes(args, "messages", measure, growth), indent=2))


def measure(args: argparse.Namespace) -> dict:
    """Every mode at ``args.messages`` per run, alternated; the report of one size."""
    modes = MODES + (SPLIT if args.split else ()) + (UVLOOP if args.uvloop else ())
    with tempfile.TemporaryDirectory(prefix="prestacop-bench-") as home:
        servers = Servers(Path(home), split=args.split)
        with servers:
            results: dict[str, list[dict]] = {m: [] for m in modes}
            for run in range(args.runs):
                for mode in modes if run % 2 == 0 else tuple(reversed(modes)):
                    results[mode].append(servers.run(mode, args))
    summary = {m: median_of(r) for m, r in results.items()}
    # the SDK's time per event in units of raw's: <= 1.5 is the target, < 1 is faster than raw
    ratio = summary["raw"]["events_per_s"] / summary["sdk"]["events_per_s"]
    plain = summary["sdk"]
    secured_ratio = plain["events_per_s"] / summary["sdk_secured"]["events_per_s"]
    report = {
        "benchmark": "ingest: drone positions into JetStream (file storage, dedup on)",
        "drones": args.drones,
        "messages_per_run": args.messages // args.drones * args.drones,
        "window": args.window,
        "runs": args.runs,
        "sdk_report_position": plain,
        "publisher_only": summary["publisher"],
        "raw_nats_py_publish_async": summary["raw"],
        "sdk_time_per_event_vs_raw": round(ratio, 2),
        "target": f"SDK within {TARGET_RATIO}x of raw",
        "target_met": ratio <= TARGET_RATIO,
        "sdk_secured_tls_accounts": summary["sdk_secured"],
        "secured_time_per_event_vs_plain": round(secured_ratio, 2),
        "secured_target": f"secured within {SECURED_TARGET}x of plain",
        "secured_target_met": secured_ratio <= SECURED_TARGET,
        # time per event, client CPU and server CPU per event, each vs the plain SDK's
        "vs_plain": {m: versus(summary[m], plain) for m in modes if m.startswith("sdk_")},
        "loadavg": os.getloadavg(),
    }
    report.update({m: summary[m] for m in modes if m not in MODES})
    return report


def versus(mode: dict, plain: dict) -> dict[str, float]:
    return {
        "time_per_event": round(plain["events_per_s"] / mode["events_per_s"], 2),
        "client_cpu_per_event": round(
            mode["cpu_us_per_event"] / max(plain["cpu_us_per_event"], 1e-9), 2
        ),
        "server_cpu_per_event": round(  # a tiny run can see no server CPU tick at all
            mode["server_cpu_us_per_event"] / max(plain["server_cpu_us_per_event"], 1e-9), 2
        ),
    }


def server_cpu_s(pid: int) -> float:
    """The CPU time a process used so far (Linux /proc; user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Servers:
    """One embedded nats-server per security setting, each with its own client settings."""

    def __init__(self, home: Path, *, split: bool) -> None:
        from prestacop.runtime.embedded import EmbeddedRuntime
        from prestacop.security.tls import ensure_tls

        self.home = home
        self.runtimes = {
            "plain": EmbeddedRuntime(home / "plain", postgres=False),
            "secured": EmbeddedRuntime(home / "secured", postgres=False, secure=True),
        }
        self.tls_ca = ""
        if split:
            tls = ensure_tls(home / "tls")
            self.tls_ca = str(tls.ca)
            self.runtimes["tls"] = EmbeddedRuntime(
                home / "tls", postgres=False, nats_config=tls.server_config()
            )
            self.runtimes["accounts"] = EmbeddedRuntime(
                home / "accounts", postgres=False, secure=True, tls=False
            )
        self.urls: dict[str, Any] = {}
        self.env: dict[str, dict[str, str]] = {}

    def __enter__(self) -> Servers:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        from prestacop.bootstrap import add_tenant, setup_topology
        from prestacop.security.authority import Authority

        for name, runtime in self.runtimes.items():
            urls = self.urls[name] = runtime.start()
            env = self.env[name] = {}
            if name == "tls":
                env["NATS_CA"] = self.tls_ca
            elif urls.nats_ca:
                env["NATS_CA"] = urls.nats_ca
            os.environ.update(env)
            if runtime.secure:
                asyncio.run(add_tenant(urls.nats_url, runtime.home, "bench"))
                env["NATS_CREDS"] = str(Authority(runtime.home).service_creds("bench"))
            else:
                asyncio.run(setup_topology(urls.nats_url))
            os.environ.pop("NATS_CA", None)

    def __exit__(self, *exc: object) -> None:
        for runtime in self.runtimes.values():
            runtime.stop()

    def run(self, mode: str, args: argparse.Namespace) -> dict:
        name = mode.removeprefix("sdk_").removesuffix("_uvloop")
        name = name if name in self.runtimes else "plain"
        return run_worker(mode, self.urls[name], args, self.env[name])


if __name__ == "__main__":
    main()
