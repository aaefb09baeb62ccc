"""``prestacop up`` and ``prestacop setup``: the servers and the log's topology."""

from __future__ import annotations

import os
import signal
import threading

import typer

from prestacop.cli.common import fail, out, run, settings, urls


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(setup)


def up(
    secure: bool = typer.Option(
        False,
        "--secure/--insecure",
        help="Operator mode: one NATS account per force, credentials under $PRESTACOP_HOME.",
    ),
    cluster: int = typer.Option(
        1, "--cluster", help="Nodes of a secured nats-server cluster (3 or 5), routes with TLS."
    ),
) -> None:
    """Start the embedded runtime (nats-server with JetStream + PostgreSQL) until Ctrl-C.

    Data lives under $PRESTACOP_HOME (default ~/.prestacop). Other commands in other
    terminals find these servers by themselves.
    """
    from prestacop.bootstrap import find_urls
    from prestacop.runtime.embedded import EmbeddedRuntime, EmbeddedRuntimeError

    cfg = settings()
    if (found := find_urls(cfg)) is not None:
        fail(f"servers already given or running: NATS {found.nats_url}, DB {found.database_url}")
    from prestacop.runtime.cluster import EmbeddedCluster

    secure = secure or cluster > 1
    runtime: EmbeddedRuntime | EmbeddedCluster = (
        EmbeddedCluster(cfg.home, cluster, postgres=True)
        if cluster > 1
        else EmbeddedRuntime(cfg.home, secure=secure)
    )
    try:
        started = runtime.start()
    except EmbeddedRuntimeError as err:
        fail(str(err))
    if started.nats_ca:
        os.environ["NATS_CA"] = started.nats_ca
    try:
        from prestacop.adapters.topology import TopologyOptions
        from prestacop.bootstrap import open_log

        async def topology() -> None:
            if secure:  # the default force's account, streams and images
                from prestacop.security.tenants import add_tenant

                replicas = 3 if cluster > 1 else 1
                await add_tenant(
                    started.nats_url,
                    cfg.home,
                    cfg.tenant,
                    topology=TopologyOptions(replicas=replicas),
                )
                return
            client = await open_log(started.nats_url, "prestacop-up")
            await client.close()

        run(topology())
        out.print(f"[bold green]PrestaCop runtime up[/] (data in {cfg.home})")
        out.print(f"  NATS_URL={started.nats_url}")
        out.print(f"  DATABASE_URL={started.database_url}")
        if secure:
            out.print(f"  NATS_CA={started.nats_ca}")
            out.print(
                f"  force {cfg.tenant}: `prestacop tenant add NAME` for more, "
                "`prestacop creds ...` for users"
            )
        out.print("Ctrl-C stops both servers.")
        stop = threading.Event()
        # Ctrl-C, SIGTERM or a closed terminal stop both servers. SIGINT is set explicitly:
        # a shell starting us in the background may have set it to be ignored.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
    finally:
        runtime.stop()
        out.print("stopped.")


def setup(
    replicas: int = typer.Option(1, help="Replicas of every stream (3 on a cluster)."),
) -> None:
    """Create or update the streams of the log and the images (idempotent)."""
    from prestacop.adapters.nats_connection import connect
    from prestacop.adapters.topology import TopologyOptions, ensure_topology

    found = urls(settings())

    async def go() -> list[str]:
        nc = await connect(found.nats_url, "prestacop-setup")
        try:
            return await ensure_topology(
                nc.jetstream(), TopologyOptions(replicas=replicas), update=True
            )
        finally:
            await nc.drain()

    for line in run(go()):
        out.print(line)
