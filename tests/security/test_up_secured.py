"""`prestacop up` (secured by default) / `--cluster 3`: secured servers the other commands use."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from prestacop.runtime.embedded import RuntimeUrls
from tests.e2e.test_up import wait_for

PRESTACOP = [sys.executable, "-m", "prestacop.cli"]


@pytest.mark.parametrize("mode", [[], ["--cluster", "3"]], ids=["default", "cluster"])
def test_up_secured_then_onboard_a_force_and_issue_a_drone(tmp_path: Path, mode: list[str]) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NATS_URL", "DATABASE_URL", "NATS_CREDS", "NATS_CA")
    }
    env["PRESTACOP_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen(
        [*PRESTACOP, "up", *mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []  # up's output, read as it comes (a full pipe would block it)
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")))
    reader.start()
    try:
        urls_file = tmp_path / "home" / "runtime.json"
        urls = wait_for(lambda: RuntimeUrls.load_live(urls_file), 90, "a live secured runtime")
        assert urls.nats_ca

        def prestacop(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*PRESTACOP, *args], env=env, capture_output=True, text=True, timeout=120
            )

        # `up` is ready once it says how to stop it: the default force's streams exist by then
        # (before, `setup` raced up's own stream creation on a cluster that had just formed)
        wait_for(lambda: any("stops both servers" in line for line in seen), 90, "up ready")
        listed = prestacop("tenant", "list")  # once: polling it cost a process start-up a try
        assert "nypd" in listed.stdout, listed.stdout + listed.stderr
        setup = prestacop("setup", "--replicas", "3" if "--cluster" in mode else "1")
        assert setup.returncode == 0, setup.stdout + setup.stderr
        assert "PRESTACOP_IMAGES" in setup.stdout
        added = prestacop(
            "tenant", "add", "lapd", "--replicas", "3" if "--cluster" in mode else "1"
        )
        assert added.returncode == 0, added.stdout + added.stderr
        creds = tmp_path / "d1.creds"
        issued = prestacop("creds", "drone", "--tenant", "lapd", "--drone", "d1", "-o", str(creds))
        assert issued.returncode == 0 and creds.exists(), issued.stderr
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
        proc.wait(timeout=90)
        reader.join(timeout=10)
    output = "".join(seen)
    assert proc.returncode == 0, output
    assert not urls_file.exists()
