"""``prestacop up`` and ``prestacop setup``: the servers and the log's topology."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import typer

from prestacop.cli.common import fail, out, run, say, settings, urls


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)
    app.command()(setup)


def up(
    nats_port: int | None = typer.Option(
        None,
        "--nats-port",
        min=1,
        max=65535,
        help="NATS port (default: the one this home used before, else a free one).",
    ),
    pg_port: int | None = typer.Option(
        None,
        "--pg-port",
        min=1,
        max=65535,
        help="PostgreSQL TCP port on 127.0.0.1 (default: the one used before, else a free one).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the URLs as one JSON document."),
    secure: bool = typer.Option(
        True,
        "--secure/--insecure",
        help="Secured (the default, as in production): operator mode, one NATS account per"
        " force, credentials under $PRESTACOP_HOME, TLS with a CA of its own. --insecure: an"
        " open server, no credentials (say so on purpose).",
    ),
    cluster: int = typer.Option(
        1, "--cluster", help="Nodes of a secured nats-server cluster (3 or 5), routes with TLS."
    ),
) -> None:
    """Start the embedded runtime (nats-server with JetStream + PostgreSQL) until Ctrl-C.

    Data lives under $PRESTACOP_HOME (default ~/.prestacop). Other commands in other
    terminals find these servers by themselves; the addresses stay the same across
    restarts, so running clients reconnect. `prestacop down` stops it from elsewhere.
    """
    from prestacop.bootstrap import find_urls
    from prestacop.runtime.embedded import EmbeddedRuntime, EmbeddedRuntimeError, RuntimeUrls

    cfg = settings()
    if (live := RuntimeUrls.load_live(cfg.home / "runtime.json")) is not None:
        fail(f"a runtime already runs in {cfg.home} (NATS {live.nats_url}): `prestacop down`")
    if (found := find_urls(cfg)) is not None:
        fail(f"NATS_URL is set ({found.nats_url}): unset it to start the embedded runtime", 2)
    from prestacop.runtime.cluster import EmbeddedCluster

    if not secure and cluster > 1:
        fail("a cluster always runs secured: leave out --insecure", 2)
    runtime: EmbeddedRuntime | EmbeddedCluster = (
        EmbeddedCluster(cfg.home, cluster, postgres=True)
        if cluster > 1
        else EmbeddedRuntime(
            cfg.home, nats_port=nats_port, secure=secure, pg_port=pg_port, pg_tcp=True
        )
    )
    stop = threading.Event()
    try:
        started = runtime.start()
    except EmbeddedRuntimeError as err:
        runtime.stop()
        fail(f"{err} (another port: --nats-port, --pg-port)")
    if started.nats_ca:
        os.environ["NATS_CA"] = started.nats_ca
    pg_tcp = runtime.pg_port if isinstance(runtime, EmbeddedRuntime) else None
    try:
        from prestacop.adapters.topology import TopologyOptions
        from prestacop.bootstrap import add_tenant, open_log

        async def topology() -> None:
            if secure:  # the default force's account, streams and images
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

        # From here Ctrl-C, SIGTERM or a closed terminal stop both servers (set before the
        # URLs are printed: a script may signal as soon as it has read them). SIGINT is set
        # explicitly: a shell starting us in the background may have set it to be ignored.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: stop.set())
        run(topology())
        if json_out:
            doc: dict[str, object] = {
                "nats_url": started.nats_url,
                "database_url": started.database_url,
            }
            if pg_tcp:
                doc["pg_port"] = pg_tcp
            if secure:
                doc["nats_ca"] = started.nats_ca
            print(json.dumps({**doc, "home": str(cfg.home)}), flush=True)
        else:
            out.print(f"[bold green]PrestaCop runtime up[/] (data in {cfg.home})")
            out.print(f"  NATS_URL={started.nats_url}", markup=False, highlight=False)
            out.print(f"  DATABASE_URL={started.database_url}", markup=False, highlight=False)
            if pg_tcp:  # TCP as well (other containers, desktop clients)
                out.print(f"  PostgreSQL TCP: 127.0.0.1:{pg_tcp}", highlight=False)
            if secure:
                out.print(f"  NATS_CA={started.nats_ca}", markup=False, highlight=False)
                out.print(
                    f"  force {cfg.tenant}: `prestacop tenant add NAME` for more, "
                    "`prestacop creds ...` for users",
                    markup=False,
                )
            out.print("Ctrl-C (or `prestacop down`) stops both servers.")
        stop.wait()
    finally:
        runtime.stop()
        if not json_out:
            out.print("stopped.")


def down(
    timeout: float = typer.Option(30.0, "--timeout", min=1, help="Seconds to wait for the stop."),
) -> None:
    """Stop the runtime of `prestacop up` (or what a killed one left running).

    Looks in $PRESTACOP_HOME: the `up` process, else its nats-server and PostgreSQL.
    """
    from prestacop.runtime.embedded import RuntimeUrls, stop_postgres

    home = settings().home
    live = RuntimeUrls.load_live(home / "runtime.json")
    stopped = []
    if live is not None and live.owner_pid and _alive(live.owner_pid):
        os.kill(live.owner_pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(live.owner_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(live.owner_pid):
            fail(f"`prestacop up` (pid {live.owner_pid}) did not stop within {timeout:g}s")
        stopped.append(f"prestacop up (pid {live.owner_pid})")
    elif live is not None and _alive(live.nats_pid):  # its owner was killed
        os.kill(live.nats_pid, signal.SIGTERM)
        stopped.append(f"nats-server (pid {live.nats_pid})")
    if stop_postgres(home):
        stopped.append("a PostgreSQL left running")
    (home / "runtime.json").unlink(missing_ok=True)
    say(f"stopped {' and '.join(stopped)}" if stopped else f"nothing runs in {home}")


def _alive(pid: int) -> bool:
    """Running (a zombie, ended but not yet reaped by its parent, is not)."""
    try:
        os.kill(pid, 0)
        return ") Z " not in open(f"/proc/{pid}/stat").read()
    except FileNotFoundError:
        return True  # no /proc here: the signal answered
    except OSError:
        return False


def setup(
    replicas: int | None = typer.Option(
        None,
        min=1,
        help="Replicas of every stream (3 on a cluster); default: each stream keeps its own "
        "(new ones get 1).",
    ),
) -> None:
    """Create or update the streams of the log and the images (idempotent)."""
    from prestacop import bootstrap

    found = urls(settings())
    for line in run(bootstrap.setup_topology(found, replicas=replicas)):
        out.print(line)
