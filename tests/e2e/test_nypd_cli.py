"""``prestacop nypd replay`` as NYPD runs it: options, messages, exit codes, the report."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prestacop.bootstrap import LogClient
from prestacop.cli.main import app
from prestacop.domain import subjects

runner = CliRunner()


@pytest.fixture
def no_servers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.setenv("PRESTACOP_HOME", str(tmp_path / "home"))
    return tmp_path


def test_a_dry_run_needs_no_server_and_writes_its_report(
    no_servers: Path, shared_data: Path
) -> None:
    sample = shared_data / "nypd" / "fy2022_trunc_jernejvivod.csv"
    report, rejects = no_servers / "r.json", no_servers / "rej.csv"
    result = runner.invoke(
        app,
        ["nypd", "replay", str(sample), "--dry-run", "--no-progress",
         "--report", str(report), "--rejects", str(rejects)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(report.read_text())
    for key in (
        "rows_read",
        "events",
        "rejected",
        "rejected_by_reason",
        "elapsed_s",
        "peak_rss_mb",
    ):
        assert key in summary
    assert summary["rows_read"] == 999 and summary["rejected_by_reason"] == {"future_date": 1}
    assert "07/01/2031" in rejects.read_text()


def test_standard_input_can_be_replayed(no_servers: Path) -> None:
    text = "Summons Number,Issue Date,Violation Code\n1,01/02/2020,21\n2,01/02/2020,94\n"
    report = no_servers / "r.json"
    result = runner.invoke(
        app,
        ["nypd", "replay", "-", "--dry-run", "--no-progress", "--report", str(report),
         "--rejects", str(no_servers / "rej.csv")],
        input=text.encode(),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(report.read_text())
    assert (summary["events"], summary["rejected_by_reason"]) == (1, {"unknown_code": 1})


def test_without_a_server_a_real_run_says_how_to_get_one(
    no_servers: Path, shared_data: Path
) -> None:
    sample = shared_data / "nypd" / "fy2022_trunc_jernejvivod.csv"
    result = runner.invoke(app, ["nypd", "replay", str(sample), "--no-progress"])
    assert result.exit_code == 2 and "NATS_URL" in result.output


def test_an_unknown_header_fails_with_the_columns_it_did_not_understand(no_servers: Path) -> None:
    odd = no_servers / "odd.csv"
    odd.write_text("Summons Number,Issue Date,Violation Code,Weather\n1,01/02/2020,21,rain\n")
    result = runner.invoke(
        app, ["nypd", "replay", str(odd), "--dry-run", "--no-progress",
              "--rejects", str(no_servers / "rej.csv")],
    )  # fmt: skip
    assert result.exit_code == 1 and "'Weather'" in result.output
    lenient = runner.invoke(
        app, ["nypd", "replay", str(odd), "--dry-run", "--no-progress", "--ignore-unknown-columns",
              "--rejects", str(no_servers / "rej.csv")],
    )  # fmt: skip
    assert lenient.exit_code == 0, lenient.output


async def test_a_replay_reports_what_the_log_now_holds(
    log: LogClient, nats_url: str, tenant: str, tmp_path: Path, shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("PRESTACOP_HOME", str(tmp_path / "home"))
    sample = shared_data / "nypd" / "fy2023-24_sample_pradheepnair.csv"
    report = tmp_path / "r.json"
    result = await asyncio.to_thread(  # the command runs its own event loop
        runner.invoke,
        app,
        ["nypd", "replay", str(sample), "--tenant", tenant, "--no-progress",
         "--report", str(report), "--rejects", str(tmp_path / "rej.csv")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    info = await log.js.stream_info(
        subjects.HISTORY.name, subjects_filter=subjects.history(tenant, "*")
    )
    assert (
        sum((info.state.subjects or {}).values()) == json.loads(report.read_text())["events"] == 24
    )


LEAN = (
    "import atexit, os, sys\n"
    "heavy = lambda: {'typer', 'click', 'pydantic', 'psycopg', 'eventsourcing', 'textual'}"
    " & {m.split('.')[0] for m in sys.modules}\n"
    "say = lambda: print('loaded:', sorted(heavy()), file=sys.stderr, flush=True)\n"
    "atexit.register(say)\n"
    "leave = os._exit\n"
    "os._exit = lambda code: (say(), leave(code))\n"
    "from prestacop.cli.launch import main; main()"
)
"""``prestacop`` as installed (``cli.launch``), saying at exit which heavy package it loaded
(a replay leaves by ``os._exit``, without the interpreter's teardown, so at that call too)."""
TYPER = "from prestacop.cli.main import app; app(prog_name='prestacop')"


def _cli(code: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_lean_replay_never_loads_typer_and_ends_as_typer_does(
    no_servers: Path, shared_data: Path
) -> None:
    """The same command lines through the launcher and through typer's app: the same
    report, and the same messages and exit codes on every error; typer only to fail."""
    sample = shared_data / "nypd" / "fy2022_trunc_jernejvivod.csv"
    odd = no_servers / "odd.csv"
    odd.write_text("Summons Number,Issue Date,Violation Code,Weather\n1,01/02/2020,21,rain\n")
    env = {**os.environ, "PRESTACOP_HOME": str(no_servers / "home"), "COLUMNS": "100"}
    env.pop("NATS_URL", None)
    rej = ["--no-progress", "--rejects", str(no_servers / "rej.csv")]
    reports = []
    for code in (LEAN, TYPER):
        report = no_servers / f"r{len(reports)}.json"
        done = _cli(
            code, ["nypd", "replay", str(sample), "--dry-run", "--report", str(report), *rej], env
        )
        assert done.returncode == 0, done.stderr
        summary = json.loads(report.read_text())
        for varies in (
            "elapsed_s",
            "rows_per_s",
            "peak_rss_mb",
            "peak_rss_mb_by_process",
            "cpu_s_by_process",
        ):
            summary.pop(varies)
        reports.append(summary)
        if code == LEAN:
            assert "loaded: []" in done.stderr, done.stderr
    assert reports[0] == reports[1] and reports[0]["rows_read"] == 999
    failing = [
        (["nypd", "replay", str(no_servers / "nothing.csv"), "--dry-run", *rej], {}, 2),
        (["nypd", "replay", str(no_servers), "--dry-run", *rej], {}, 2),
        (["nypd", "replay", str(odd), "--dry-run", *rej], {}, 1),
        (["nypd", "replay", str(sample), *rej], {}, 2),  # no server: how to get one
        (["nypd", "replay", str(sample), "-t", "Bad Force!", "--dry-run", *rej], {}, 2),
        (["nypd", "replay", str(sample), "--dry-run", *rej], {"PRESTACOP_LOG": "LOUD"}, 1),
    ]
    for args, extra, exit_code in failing:
        lean, typer = (_cli(code, args, {**env, **extra}) for code in (LEAN, TYPER))
        assert (lean.returncode, typer.returncode) == (exit_code, exit_code), lean.stderr
        assert (lean.stdout, lean.stderr.rsplit("loaded:", 1)[0]) == (typer.stdout, typer.stderr)
        assert "error:" in typer.stderr
