"""Gate benchmark: how fast the gate judges a backlog, one build against another, same run.

Starts its own nats-server (embedded runtime, no PostgreSQL), loads ``--messages``
drone positions (one in ten invalid: set aside), then, ``--runs`` times and
alternating, starts a gate process from each source tree given (``--src``, default
this one) with a fresh durable consumer, and measures until every message is
judged and acknowledged: wall seconds, messages/s and the gate's CPU seconds.
Prints JSON with the medians and each tree's ratio to the first.

    .venv/bin/python -m bench.gate --messages 20000,200000 --runs 3 --src src --src /tmp/old/src
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from bench.scale import at_sizes, sizes

GATE = """
import asyncio, signal, sys
try:
    from prestacop.bootstrap import run_gate
except ImportError:  # a tree from before the composition root
    from prestacop.gate.service import run_gate

async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await run_gate(sys.argv[1], stop, streams=("PRESTACOP_DRONES",))

asyncio.run(main())
"""


async def load(nats_url: str, n: int) -> None:
    import msgspec

    from prestacop.bootstrap import open_log
    from prestacop.domain import subjects

    log = await open_log(nats_url, "bench-gate-load", window=4096)
    try:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for i in range(n):
            body = {
                "type": "position", "message_id": f"p{i}", "v": 1, "drone_id": f"d{i % 50}",
                "time": now, "latitude": 91 if i % 10 == 0 else 40.7, "longitude": -73.9,
            }  # fmt: skip
            await log.publisher.publish(
                subjects.position("nypd", f"d{i % 50}"), msgspec.json.encode(body)
            )
        await log.publisher.flush()
    finally:
        await log.close()


async def judged(nats_url: str) -> bool:
    import nats

    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info("PRESTACOP_DRONES", "gate")
        return info.num_pending == 0 and info.num_ack_pending == 0
    except Exception:
        return False
    finally:
        await nc.close()


async def reset(nats_url: str) -> None:
    import nats

    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().delete_consumer("PRESTACOP_DRONES", "gate")
    except Exception:
        pass  # none yet
    finally:
        await nc.close()


async def one_run(nats_url: str, src: str, n: int) -> dict[str, float]:
    await reset(nats_url)
    env = {**os.environ, "PYTHONPATH": src}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", GATE, nats_url, env=env)
    try:
        while not await judged(nats_url):
            if proc.returncode is not None:
                raise RuntimeError(f"the gate from {src} exited with {proc.returncode}")
            await asyncio.sleep(0.05)  # polling the consumer's state, with the bench's clock
        seconds = time.perf_counter() - began
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"seconds": seconds, "msgs_per_s": n / seconds, "gate_cpu_s": cpu}


async def main(args: argparse.Namespace, nats_url: str) -> dict[str, object]:
    await load(nats_url, args.messages)
    runs: dict[str, list[dict[str, float]]] = {src: [] for src in args.src}
    for _ in range(args.runs):
        for src in args.src:  # alternating: the same machine state for each tree
            runs[src].append(await one_run(nats_url, src, args.messages))
    result: dict[str, object] = {"messages": args.messages, "runs": args.runs, "trees": {}}
    first = None
    for src, rs in runs.items():
        figures = {k: round(median(r[k] for r in rs), 3) for k in rs[0]}
        first = first or figures
        figures["msgs_per_s_vs_first"] = round(figures["msgs_per_s"] / first["msgs_per_s"], 3)
        figures["cpu_vs_first"] = round(figures["gate_cpu_s"] / first["gate_cpu_s"], 3)
        result["trees"][src] = figures  # type: ignore[index]
    return result


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=sizes, default="20000,200000", help="sizes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--src", action="append", help="a source tree (repeat to compare)")
    args = parser.parse_args()
    args.src = args.src or [str(Path(__file__).resolve().parents[1] / "src")]
    from prestacop.runtime.embedded import EmbeddedRuntime

    def at_size(one: argparse.Namespace) -> dict:
        """One size on a server of its own (the same message ids at every size)."""
        with tempfile.TemporaryDirectory(prefix="prestacop-bench-") as home:
            with EmbeddedRuntime(Path(home), postgres=False) as urls:
                return asyncio.run(main(one, urls.nats_url))

    first = args.src[0]
    growth = (("trees", first, "msgs_per_s"), ("trees", first, "gate_cpu_s"))
    print(json.dumps(at_sizes(args, "messages", at_size, growth), indent=2))


if __name__ == "__main__":
    cli()
