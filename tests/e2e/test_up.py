"""``prestacop up``: real servers under one folder, found by other commands, stopped by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from prestacop.runtime.embedded import EmbeddedRuntime, EmbeddedRuntimeError, RuntimeUrls

PRESTACOP = [sys.executable, "-m", "prestacop.cli"]


def wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_up_serves_nats_and_postgres_until_interrupted(tmp_path: Path) -> None:
    """Secured by default: the next command finds the force's credentials and the CA."""
    drop = ("NATS_URL", "DATABASE_URL", "NATS_CREDS", "NATS_CA")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PRESTACOP_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen(
        [*PRESTACOP, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seen: list[str] = []  # up's output, read as it comes (a full pipe would block it)
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")))
    reader.start()
    try:
        urls_file = tmp_path / "home" / "runtime.json"
        urls = wait_for(
            lambda: RuntimeUrls.load_live(urls_file), 60, "runtime.json of a live runtime"
        )
        assert urls.database_url and urls.nats_ca  # TLS with its own CA
        wait_for(lambda: any("stops both servers" in line for line in seen), 90, "up ready")
        with psycopg.connect(urls.database_url) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        setup = subprocess.run(
            [*PRESTACOP, "setup"], env=env, capture_output=True, text=True, timeout=60
        )
        assert setup.returncode == 0, setup.stderr
        assert "PRESTACOP_DRONES" in setup.stdout
        anonymous = subprocess.run(
            [*PRESTACOP, "setup"],
            env={**env, "PRESTACOP_HOME": str(tmp_path / "elsewhere"), "NATS_URL": urls.nats_url},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert anonymous.returncode != 0  # no credentials, no CA: refused
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    output = "".join(seen)
    assert proc.returncode == 0, output
    assert "NATS_URL=nats://127.0.0.1:" in output
    assert f"  DATABASE_URL={urls.database_url}\n" in output  # never wrapped for scripts
    assert not urls_file.exists()
    try:
        os.kill(urls.nats_pid, 0)
        alive = True
    except OSError:
        alive = False
    assert not alive, "nats-server still running after Ctrl-C"
    assert not (tmp_path / "home" / "postgres" / "postmaster.pid").exists(), "postgres still up"


def test_a_command_without_servers_says_what_to_do(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "DATABASE_URL")}
    env["PRESTACOP_HOME"] = str(tmp_path)
    result = subprocess.run([*PRESTACOP, "setup"], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "prestacop up" in result.stderr


def test_a_runtime_whose_port_is_taken_says_so_instead_of_using_the_other_server(
    runtime: EmbeddedRuntime, tmp_path: Path
) -> None:
    taken = int(runtime.urls.nats_url.rsplit(":", 1)[1])  # type: ignore[union-attr]
    # open (explicitly): it must fail on the taken port before any security matters
    other = EmbeddedRuntime(tmp_path, nats_port=taken, postgres=False, secure=False)
    with pytest.raises(EmbeddedRuntimeError, match=r"exited|did not listen"):
        other.start()
    other.stop()
