"""Every long-running command stops on the first SIGINT or SIGTERM, quickly and without a
traceback, whether its server is unreachable, it is working, or it is reconnecting.

The commands of a state run side by side (one process per command and signal), so the
whole table costs a few process start-ups, not thirty.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prestacop.runtime.embedded import EmbeddedRuntime, free_port

PRESTACOP = [sys.executable, "-m", "prestacop.cli"]
STOP_WITHIN_S = 2.0  # 0.6 s of grace, then cancelled; whatever still blocks, gone at 1.5 s
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def services(csv: Path) -> dict[str, list[str]]:
    """The long-running commands (the demo's working case is in test_demo.py: demos started
    together race to create the same views)."""
    return {
        "gate run": ["gate", "run"],
        "project run": ["project", "run", "--namespace", "signals_{sig}"],
        "simulate": ["simulate", "--drones", "2", "--rate", "5"],
        "nypd replay": [
            *("nypd", "replay", "--no-progress", "--max-rate", "20", "--tenant", "sig{sig}"),
            str(csv),
        ],
    }


@pytest.fixture(scope="module")
def own_nats() -> Iterator[EmbeddedRuntime]:
    """A nats-server of this module's own, to cut and restart."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="prestacop-signals-"))
    # open (explicitly): a server of its own to cut and restart under the commands
    rt = EmbeddedRuntime(home, postgres=False, secure=False)
    rt.start()
    subprocess.run(
        [*PRESTACOP, "setup"], env=env(home, rt.urls.nats_url), check=True, capture_output=True
    )  # type: ignore[union-attr]
    yield rt
    rt.stop()


def env(home: Path, nats_url: str, database_url: str | None = None) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "DATABASE_URL")}
    out.update(PRESTACOP_HOME=str(home), NATS_URL=nats_url, PRESTACOP_LOG="ERROR")
    if database_url:
        out["DATABASE_URL"] = database_url
    return out


def connected_to(pid: int, port: int) -> bool:
    """True when process ``pid`` holds an established TCP connection to ``port`` (Linux)."""
    try:
        inodes = {
            os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1]
            for fd in os.listdir(f"/proc/{pid}/fd")
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")
        }
        lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        if remote_port == port and fields[3] == "01" and fields[9] in inodes:
            return True
    return False


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Run:
    def __init__(self, name: str, args: list[str], sig: signal.Signals, environ: dict) -> None:  # type: ignore[type-arg]
        self.name, self.sig = name, sig
        home = Path(environ["PRESTACOP_HOME"]) / f"{name.replace(' ', '-')}-{sig.name}"
        home.mkdir(parents=True)
        self.stderr_path = home / "stderr"
        self.proc = subprocess.Popen(
            [*PRESTACOP, *args],
            env={**environ, "PRESTACOP_HOME": str(home)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr_path.open("w"),
        )
        self.took: float | None = None

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self) -> None:
        began = time.monotonic()
        self.proc.send_signal(self.sig)
        try:
            self.proc.wait(STOP_WITHIN_S + 5)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.took = time.monotonic() - began

    def check(self) -> None:
        what = f"{self.name} on {self.sig.name}"
        assert self.took is not None and self.took < STOP_WITHIN_S, (what, self.took, self.stderr)
        assert "Traceback" not in self.stderr, (what, self.stderr)
        assert "never retrieved" not in self.stderr, (what, self.stderr)
        # 1: what was lost is said in one line (a simulator stopped during an outage)
        assert self.proc.returncode in (0, 1, 130), (what, self.proc.returncode, self.stderr)
        if self.proc.returncode == 1:
            assert self.stderr.count("error:") == 1, (what, self.stderr)


def run_all(names: dict[str, list[str]], environ: dict) -> list[Run]:  # type: ignore[type-arg]
    """One process per command and signal; the runners each get a namespace of their own
    (runners starting together on one fresh namespace race to create it)."""
    return [
        Run(name, [a.replace("{sig}", sig.name.lower()) for a in args], sig, environ)
        for name, args in names.items()
        for sig in SIGNALS
    ]


def kill_all(runs: list[Run]) -> None:
    """Whatever happens to the test, no process of it is left running."""
    for run in runs:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def stop_all(runs: list[Run]) -> None:
    try:
        for run in runs:
            run.stop()
    finally:
        kill_all(runs)
    print(" ".join(f"{r.name}/{r.sig.name}: {r.took:.2f}s" for r in runs))
    for run in runs:
        run.check()


def test_unreachable_server_is_waited_for_and_a_signal_stops_the_wait(
    tmp_path: Path, shared_data: Path
) -> None:
    closed = f"nats://127.0.0.1:{free_port()}"
    names = services(shared_data / "nypd" / "fy2022_trunc_jernejvivod.csv")
    names["console"] = ["console", "--officer", "jane"]
    names["demo"] = ["demo", "--no-console", "--drones", "2"]
    runs = run_all(names, env(tmp_path, closed, "postgresql://nobody@127.0.0.1:1/none"))
    try:
        for run in runs:
            wait_for(f"{run.name} to say it waits", lambda r=run: "waiting for it" in r.stderr)
            assert "cannot reach NATS" in run.stderr or "cannot use PostgreSQL" in run.stderr
    finally:
        stop_all(runs)


def test_a_signal_stops_a_working_and_a_reconnecting_service(
    tmp_path: Path, own_nats: EmbeddedRuntime, database_url: str, shared_data: Path
) -> None:
    assert own_nats.urls is not None
    port = int(own_nats.urls.nats_url.rsplit(":", 1)[1])
    names = services(shared_data / "nypd" / "fy2022_trunc_jernejvivod.csv")
    environ = env(tmp_path, own_nats.urls.nats_url, database_url)
    working = run_all(names, {**environ, "PRESTACOP_HOME": str(tmp_path / "working")})
    try:
        for run in working:
            wait_for(f"{run.name} to connect", lambda r=run: connected_to(r.proc.pid, port))
    finally:
        stop_all(working)
    names["project run"][-1] = "signals_again_{sig}"
    reconnecting = run_all(names, {**environ, "PRESTACOP_HOME": str(tmp_path / "reconnecting")})
    try:
        for run in reconnecting:
            wait_for(f"{run.name} to connect", lambda r=run: connected_to(r.proc.pid, port))
        own_nats.kill_nats()
        try:
            wait_for(
                "the connections to drop",
                lambda: not any(connected_to(r.proc.pid, port) for r in reconnecting),
            )
        finally:
            stop_all(reconnecting)
    finally:
        kill_all(reconnecting)
        own_nats.restart_nats()
