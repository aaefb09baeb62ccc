"""``prestacop nypd replay`` as NYPD runs it: options, messages, exit codes, the report."""

from __future__ import annotations

import asyncio
import json
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
