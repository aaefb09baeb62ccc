"""TLS transport alone: a batch of NATS messages as one write, or one write (record) each.

asyncio's TLS transport makes a TLS record of each element given to ``writelines``;
nats-py flushes its batch of commands that way. This bench sends the same PUB frames
to a TLS-only nats-server (no subscriber: the server parses and drops them) in both
ways, alternating short blocks in one process so that the machine's load falls on
both alike, plus a plain-TCP baseline, and counts the CPU of this process and of the
server per message. Prints JSON: medians over the blocks, and the ratios to plain.

    .venv/bin/python -m bench.tls_writes [--blocks 12] [--messages 20000,200000] [--batch 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import tempfile
import time
from pathlib import Path

from bench.ingest import sample_payload, server_cpu_s
from bench.scale import at_sizes, sizes

WAYS = ("plain", "tls_one_write_per_batch", "tls_one_write_per_message")


async def _open(port: int, ca: str | None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    info = json.loads((await reader.readline()).split(b" ", 1)[1])
    if info.get("tls_required"):
        await writer.start_tls(ssl.create_default_context(cafile=ca), server_hostname="localhost")
    writer.write(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
    await _pong(reader)
    return reader, writer


async def _pong(reader: asyncio.StreamReader) -> None:
    while (line := await reader.readline()) != b"PONG\r\n":
        if not line:
            raise ConnectionError("the server closed the connection")


async def block(
    way: str, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], args: argparse.Namespace
) -> tuple[float, float]:
    """Send ``args.messages`` in batches; the CPU (client, server) per message, in µs."""
    reader, writer = conn
    payload = sample_payload("d0000")
    frames = [b"PUB bench.sink %d\r\n%s\r\n" % (len(payload), payload)] * args.batch
    client, server = time.process_time(), server_cpu_s(args.server_pid)
    for _ in range(args.messages // args.batch):
        if way == "tls_one_write_per_batch":
            writer.write(b"".join(frames))
        else:  # plain sockets join in writelines; TLS makes a record of each element
            writer.writelines(frames)
        await writer.drain()
    writer.write(b"PING\r\n")
    await _pong(reader)  # the server has read it all
    n = args.messages // args.batch * args.batch
    client = (time.process_time() - client) / n * 1e6
    return client, (server_cpu_s(args.server_pid) - server) / n * 1e6


async def measure(args: argparse.Namespace, plain_port: int, tls_port: int, ca: str) -> dict:
    conns = {
        "plain": await _open(plain_port, None),
        "tls_one_write_per_batch": await _open(tls_port, ca),
        "tls_one_write_per_message": await _open(tls_port, ca),
    }
    pids = {"plain": args.plain_pid, "tls_one_write_per_batch": args.tls_pid}
    pids["tls_one_write_per_message"] = args.tls_pid
    cpu: dict[str, list[tuple[float, float]]] = {w: [] for w in WAYS}
    for i in range(args.blocks):
        for way in WAYS if i % 2 == 0 else tuple(reversed(WAYS)):
            args.server_pid = pids[way]
            cpu[way].append(await block(way, conns[way], args))
    for _, writer in conns.values():
        writer.close()
    med = {
        w: {
            "client_cpu_us_per_msg": round(statistics.median(c for c, _ in v), 3),
            "server_cpu_us_per_msg": round(statistics.median(s for _, s in v), 3),
        }
        for w, v in cpu.items()
    }
    plain = med["plain"]
    return {
        **med,
        "vs_plain": {
            w: {k: round(med[w][k] / max(plain[k], 1e-9), 2) for k in plain}
            for w in WAYS
            if w != "plain"
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=12, help="blocks of each way, alternated")
    parser.add_argument("--messages", type=sizes, default="20000,200000", help="per block, sizes")
    parser.add_argument("--batch", type=int, default=100, help="messages per write (a flush)")
    args = parser.parse_args()
    growth = (
        "tls_one_write_per_batch.client_cpu_us_per_msg",
        "tls_one_write_per_message.client_cpu_us_per_msg",
        "plain.client_cpu_us_per_msg",
    )
    print(json.dumps(at_sizes(args, "messages", at_size, growth), indent=2))


def at_size(args: argparse.Namespace) -> dict:
    """Every way at ``args.messages`` per block, on servers of their own."""
    from prestacop.runtime.embedded import EmbeddedRuntime
    from prestacop.security.tls import ensure_tls

    with tempfile.TemporaryDirectory(prefix="prestacop-bench-") as home:
        tls = ensure_tls(Path(home) / "tls")
        with (
            EmbeddedRuntime(Path(home) / "plain", postgres=False) as plain,
            EmbeddedRuntime(
                Path(home) / "tls", postgres=False, nats_config=tls.server_config()
            ) as secured,
        ):
            args.plain_pid, args.tls_pid = plain.nats_pid, secured.nats_pid
            port = int(plain.nats_url.rsplit(":", 1)[1])
            tls_port = int(secured.nats_url.rsplit(":", 1)[1])
            result = asyncio.run(measure(args, port, tls_port, str(tls.ca)))
    report = {
        "benchmark": "TLS transport: PUB frames in batches, one write per batch or per message",
        "blocks": args.blocks,
        "messages_per_block": args.messages // args.batch * args.batch,
        "batch": args.batch,
        "payload_bytes": len(sample_payload("d0000")),
        **result,
        "loadavg": os.getloadavg(),
    }
    return report


if __name__ == "__main__":
    main()
