"""``prestacop up``/``down``: stable addresses across restarts, a stop from elsewhere, and
nothing left behind, not even after ``kill -9``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prestacop.runtime.embedded import RuntimeUrls

PRESTACOP = [sys.executable, "-m", "prestacop.cli"]


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A short folder: PostgreSQL's socket path must fit in 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="pc-down-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def env_for(home: Path) -> dict[str, str]:
    drop = ("NATS_URL", "DATABASE_URL", "XDG_RUNTIME_DIR", "NATS_CREDS", "NATS_CA")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "PRESTACOP_HOME": str(home), "TMPDIR": str(home.parent / "tmp")}


def start_up(home: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [*PRESTACOP, "up", "--json", *args],
        env=env_for(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the JSON document, printed once the servers answer
    assert line, proc.stderr.read() if proc.stderr else ""
    return proc, json.loads(line)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} still running"
        time.sleep(0.05)


def postmaster_pid(home: Path) -> int | None:
    try:
        return int((home / "postgres" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError):
        return None


def test_up_keeps_its_address_across_restarts_and_down_stops_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "tmp").mkdir()
    first, urls = start_up(home)
    down = subprocess.run(
        [*PRESTACOP, "down"], env=env_for(home), capture_output=True, text=True, timeout=60
    )
    assert down.returncode == 0, down.stderr
    assert "stopped prestacop up" in down.stderr
    first.wait(30)
    again, urls_again = start_up(home)
    try:
        assert urls_again["nats_url"] == urls["nats_url"]
        assert urls_again["database_url"] == urls["database_url"]
    finally:
        again.send_signal(signal.SIGINT)
        again.wait(30)
    assert again.returncode == 0, again.stderr.read() if again.stderr else ""
    assert not (home / "runtime.json").exists()
    assert postmaster_pid(home) is None or not alive(postmaster_pid(home))  # type: ignore[arg-type]
    assert list((tmp_path / "tmp").iterdir()) == []  # no image cache, no runtime dir in /tmp
    stderr = again.stderr.read() if again.stderr else ""
    assert "XDG_RUNTIME_DIR" not in stderr


def test_down_after_kill_9_of_up_stops_the_postgres_it_left(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "tmp").mkdir()
    proc, _ = start_up(home)
    live = RuntimeUrls.load_live(home / "runtime.json")
    assert live is not None and live.owner_pid == proc.pid
    pg = postmaster_pid(home)
    assert pg is not None and alive(pg)
    proc.kill()
    proc.wait()
    wait_gone(live.nats_pid)  # nats-server dies with its parent
    assert alive(pg), "expected the orphan PostgreSQL this test is about"
    down = subprocess.run(
        [*PRESTACOP, "down"], env=env_for(home), capture_output=True, text=True, timeout=60
    )
    assert down.returncode == 0, down.stderr
    assert "PostgreSQL" in down.stderr
    wait_gone(pg)
    assert not (home / "runtime.json").exists()


def test_up_keeps_a_postgres_tcp_port_given_once(tmp_path: Path) -> None:
    """``--pg-port``: PostgreSQL listens on 127.0.0.1 too (scram, like its socket), and a
    later ``up`` without the option comes back on the same port."""
    import psycopg

    from prestacop.runtime.embedded import free_port

    home = tmp_path / "home"
    (tmp_path / "tmp").mkdir()
    port = free_port()
    tcp = f"postgresql://prestacop@127.0.0.1:{port}/postgres?passfile={home}/postgres-owner.pgpass"
    for args in (["--pg-port", str(port)], []):
        proc, urls = start_up(home, *args)
        try:
            assert urls["pg_port"] == port, (args, urls)
            for url in (tcp, urls["database_url"]):
                with psycopg.connect(url, connect_timeout=10) as conn:
                    assert conn.execute("SELECT current_user").fetchone() == ("prestacop",)
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(f"postgresql://prestacop:wrong@127.0.0.1:{port}/postgres")
        finally:
            began = time.monotonic()
            proc.send_signal(signal.SIGINT if args else signal.SIGTERM)
            proc.wait(30)
        took = time.monotonic() - began
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
        assert took < 2.0, f"up took {took:.2f}s to stop both servers"
    assert json.loads((home / "ports.json").read_text()).keys() == {"nats", "postgres"}
