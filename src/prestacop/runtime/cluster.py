"""A secured nats-server cluster on one machine (``prestacop up --cluster 3``; tests).

Three (or five) nodes in operator mode, each with its own JetStream store, routed to one
another with mutual TLS (certificates of the runtime's CA) and a route password: a node
without both cannot join. The same config is what ``deploy/`` describes for production.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from prestacop.runtime.embedded import (
    EmbeddedRuntime,
    EmbeddedRuntimeError,
    RuntimeUrls,
    die_with_parent,
    free_port,
    nats_server_binary,
    wait_for_port,
)


class EmbeddedCluster:
    """``size`` secured nats-servers under ``home/cluster``; NATS only (no PostgreSQL)."""

    def __init__(self, home: Path, size: int = 3, *, postgres: bool = False) -> None:
        if size < 3 or size % 2 == 0:
            raise EmbeddedRuntimeError(
                "a JetStream cluster needs an odd number of nodes, 3 or more"
            )
        self.home = Path(home)
        self.size = size
        self.ports = [free_port() for _ in range(size)]
        self.route_ports = [free_port() for _ in range(size)]
        self.http_ports = [free_port() for _ in range(size)]
        self.names = [f"prestacop-n{i}-{secrets.token_hex(3)}" for i in range(size)]
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * size
        self.urls: RuntimeUrls | None = None
        # PostgreSQL as the single-node runtime starts it (its NATS part unused)
        self._pg = EmbeddedRuntime(self.home, postgres=True) if postgres else None

    @property
    def nats_url(self) -> str:
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.ports)

    def _route_password(self) -> str:
        path = self.home / "secrets" / "route.password"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(24))
        return path.read_text().strip()

    def _config(self, i: int) -> Path:
        from prestacop.security.authority import Authority
        from prestacop.security.tls import ensure_tls

        tls = ensure_tls(self.home)
        operator = Authority(self.home).ensure().server_config(self.home / f"n{i}" / "accounts")
        password = self._route_password()
        routes = [
            f"nats-route://prestacop-route:{password}@127.0.0.1:{p}"
            for j, p in enumerate(self.route_ports)
            if j != i
        ]
        node = self.home / f"n{i}"
        node.mkdir(parents=True, exist_ok=True)
        conf = node / "nats.conf"
        text = (
            f"listen: 127.0.0.1:{self.ports[i]}\n"
            f"server_name: {self.names[i]}\n"
            f"http: 127.0.0.1:{self.http_ports[i]}\n"  # /healthz: JetStream ready
            "max_payload: 9MB\n"
            f"jetstream {{\n  store_dir: {json.dumps(str(node / 'store'))}\n"
            "  max_memory_store: 64GB\n  max_file_store: 100TB\n}\n"
            + tls.server_config()
            + "cluster {\n  name: prestacop\n"
            f"  listen: 127.0.0.1:{self.route_ports[i]}\n"
            "  authorization { user: prestacop-route, password: "
            f"{json.dumps(password)}, timeout: 2 }}\n"
            f"  routes: {json.dumps(routes)}\n"
            f'  tls {{ cert_file: "{tls.cert}", key_file: "{tls.key}", ca_file: "{tls.ca}",'
            " verify: true, timeout: 5 }\n}\n" + operator
        )
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the password
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return conf

    def start_node(self, i: int) -> None:
        conf = self._config(i)
        with open(self.home / f"n{i}" / "nats-server.log", "ab") as log:
            proc = subprocess.Popen(
                [nats_server_binary(), "-c", str(conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self._procs[i] = proc
        try:
            wait_for_port(self.ports[i], 15.0, proc, self.names[i])
        except EmbeddedRuntimeError as e:  # say why: the node's last log lines
            said = (self.home / f"n{i}" / "nats-server.log").read_text(errors="replace")
            said = said[-1500:].replace(self._route_password(), "[REDACTED]")
            raise EmbeddedRuntimeError(f"{e}; its log ends:\n{said}") from None

    def healthy(self, i: int) -> bool:
        """The node's JetStream is up and knows its meta leader."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http_ports[i]}/healthz", timeout=2
            ) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def wait_healthy(self, nodes: list[int], deadline_s: float = 60.0) -> None:
        deadline = time.monotonic() + deadline_s
        while not all(self.healthy(i) for i in nodes):
            if time.monotonic() > deadline:
                raise EmbeddedRuntimeError(f"cluster not healthy within {deadline_s}s")
            time.sleep(0.2)

    def start(self) -> RuntimeUrls:
        (self.home / "secrets").mkdir(parents=True, exist_ok=True, mode=0o700)
        for i in range(self.size):
            self.start_node(i)
        self.wait_healthy(list(range(self.size)))
        first = self._procs[0]
        assert first is not None
        ca = str(self.home / "secrets" / "tls" / "ca.pem")
        database_url = self._pg.start_postgres() if self._pg is not None else None
        self.urls = RuntimeUrls(self.nats_url, database_url, first.pid, os.getpid(), ca)
        self.urls.save(self.home / "runtime.json")  # other commands find the cluster
        return self.urls

    def kill_node(self, i: int) -> None:
        """SIGKILL one node (tests of a node lost during ingest)."""
        proc = self._procs[i]
        if proc is not None:
            proc.kill()
            proc.wait()
            self._procs[i] = None

    def stop(self) -> None:
        if self._pg is not None:
            self._pg.stop()  # PostgreSQL, and runtime.json
        (self.home / "runtime.json").unlink(missing_ok=True)
        for i, proc in enumerate(self._procs):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self._procs[i] = None

    def __enter__(self) -> RuntimeUrls:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
