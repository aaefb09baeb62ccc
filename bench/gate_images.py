"""Gate benchmark: judging drone violations that name stored images, digest cache off vs on.

Starts its own nats-server (embedded runtime in a temporary folder, no PostgreSQL),
uploads ``--images`` images of ``--image-kb`` KiB, publishes ``--violations`` protocol-v2
violations naming them (each image named by ``violations / images`` of them: a frame
with several vehicles, or a batch judged again after a gate was killed), then judges
them all with ``Gate.judge`` in batches of 512, as the gate's loop does, in two modes
alternating ``--runs`` times in the same run:

- ``before``: the digest as it was: every violation fetches and hashes its image, all
  of a batch at once;
- ``after``: ``ImageStore.digest``: one fetch and hash per image (bounded cache, one
  fetch for violations asking together, a few fetches at a time).

Prints JSON: violations/s (wall) and per CPU second of this process (the server is
another process), image fetches and bytes fetched, and after/before ratios. A mode
whose image fetches time out says so instead of a rate.

    .venv/bin/python -m bench.gate_images --violations 2000,20000 --images 250 \
        --image-kb 512 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.scale import at_sizes, sizes

BATCH = 512


async def bench(nats_url: str, args: argparse.Namespace) -> dict[str, Any]:
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import AckPolicy, ConsumerConfig

    from prestacop.adapters.images import ImageStore
    from prestacop.bootstrap import open_log
    from prestacop.domain import codec, subjects
    from prestacop.domain.events import ViolationReported
    from prestacop.gate.service import Gate

    log = await open_log(nats_url, "bench-gate", setup=True)
    tenant = "bench"
    images = []
    for i in range(args.images):
        data = os.urandom(args.image_kb * 1024)
        image_id = f"img-{i}-{uuid.uuid4().hex[:8]}"
        await log.images.put(tenant, image_id, data, "image/jpeg")
        images.append((image_id, hashlib.sha256(data).hexdigest(), len(data)))
    for n in range(args.violations):
        image_id, sha, size = images[n % len(images)]
        event = ViolationReported(
            message_id=uuid.uuid4().hex,
            drone_id="d1",
            time=datetime.now(UTC),
            latitude=40.7,
            longitude=-73.9,
            violation_code=21,
            image_id=image_id,
            image_sha256=sha,
            image_size=size,
        )
        await log.publisher.publish_and_wait(
            codec.subject_for(tenant, event), codec.encode(event), msg_id=event.message_id
        )

    if args.cpu is not None:  # the server keeps the other cores
        os.sched_setaffinity(0, {args.cpu})

    class Counting(ImageStore):
        fetches = 0
        fetched = 0

        async def get(self, tenant: str, image_id: str) -> bytes | None:
            data = await super().get(tenant, image_id)
            Counting.fetches += 1
            Counting.fetched += len(data or b"")
            return data

    class Before(Counting):
        async def digest(self, tenant: str, image_id: str) -> tuple[str, int] | None:
            data = await self.get(tenant, image_id)
            return None if data is None else (hashlib.sha256(data).hexdigest(), len(data))

    async def judge_all(mode: str) -> dict[str, Any]:
        store = (Before if mode == "before" else Counting)(log.js)
        Counting.fetches = Counting.fetched = 0
        gate = Gate(log.js, log.publisher, store)
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE, filter_subject=subjects.violation(tenant, "*")
        )
        sub = await log.js.pull_subscribe(
            subjects.violation(tenant, "*"), stream=subjects.DRONES.name, config=config
        )
        judged = bad = 0
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            while judged < args.violations:
                msgs = await sub.fetch(BATCH, timeout=5.0)
                verdicts = await asyncio.gather(*(gate.judge(m) for m in msgs))
                bad += sum(v is not None for v in verdicts)
                judged += len(msgs)
        except NatsTimeout:  # what crashed the gate before: a batch of big gets at once
            return {"failed": f"image fetch timed out after {judged} violations"}
        finally:
            await sub.unsubscribe()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert bad == 0, f"{bad} violations set aside"
        return {
            "violations_per_s": judged / wall,
            "violations_per_cpu_s": judged / cpu,
            "image_fetches": Counting.fetches,
            "mb_fetched": round(Counting.fetched / 1e6, 1),
        }

    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for run in range(args.runs):
        for mode in ("before", "after") if run % 2 == 0 else ("after", "before"):
            runs[mode].append(await judge_all(mode))
    await log.close()

    def median(mode: str, key: str) -> float:
        got = [r[key] for r in runs[mode] if key in r]
        return sorted(got)[len(got) // 2] if got else float("nan")

    result: dict[str, Any] = {
        "violations": args.violations,
        "images": args.images,
        "image_kb": args.image_kb,
        "runs": runs,
    }
    for key in ("violations_per_s", "violations_per_cpu_s"):
        result[f"{key}_after"] = round(median("after", key), 1)
        result[f"{key}_before"] = round(median("before", key), 1)
        result[f"{key}_ratio_after_to_before"] = round(
            median("after", key) / median("before", key), 2
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--violations", type=sizes, default="2000,20000", help="sizes")
    parser.add_argument("--images", type=int, default=250)
    parser.add_argument("--image-kb", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=None, help="pin the gate to this core")
    args = parser.parse_args()

    from prestacop.runtime.embedded import EmbeddedRuntime

    def at_size(one: argparse.Namespace) -> dict[str, Any]:
        with (
            tempfile.TemporaryDirectory(prefix="prestacop-bench-") as home,
            EmbeddedRuntime(Path(home), postgres=False) as urls,
        ):
            return asyncio.run(bench(urls.nats_url, one))

    growth = ("violations_per_s_after", "violations_per_s_before")
    print(json.dumps(at_sizes(args, "violations", at_size, growth), indent=2))


if __name__ == "__main__":
    main()
