"""The lean launcher reads a plain ``nypd replay`` command line exactly as typer does, and
leaves every other one to typer."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from prestacop.cli import launch, nypd
from prestacop.cli.main import app
from prestacop.cli.nypd_run import ReplayArgs

runner = CliRunner()

PLAIN = [
    ["nypd", "replay", "a.csv"],
    ["nypd", "replay", "a.csv", "b.csv", "-", "--dry-run", "--no-progress"],
    ["-v", "--creds", "u.creds", "nypd", "replay", "--tenant", "nyc", "a.csv"],
    ["--creds=u.creds", "nypd", "replay", "-t", "nyc", "a.csv", "--window=16"],
    ["nypd", "replay", "--max-rate", "2.5", "--window", "20000", "a.csv", "--report", "r.json"],
    ["nypd", "replay", "a.csv", "--rejects=x/rej.csv", "--state-dir", "st", "--low-priority"],
    ["nypd", "replay", "a.csv", "--per-message-acks", "--ignore-unknown-columns"],
    ["nypd", "replay", "a.csv", "--single-process", "--tenant", "a", "--tenant", "b"],
    ["nypd", "replay", "--dry-run", "--", "--odd-name.csv", "-"],
    ["nypd", "replay", "a.csv", "--max-rate", "1"],
]
"""Command lines the launcher reads itself."""

TYPERS = [
    ["nypd", "replay"],  # no file: typer's "missing argument"
    ["nypd", "replay", "--help"],
    ["nypd", "replay", "a.csv", "--help"],
    ["nypd", "replay", "a.csv", "--window", "15"],
    ["nypd", "replay", "a.csv", "--window", "016"],
    ["nypd", "replay", "a.csv", "--window", "1e3"],
    ["nypd", "replay", "a.csv", "--max-rate", "0.5"],
    ["nypd", "replay", "a.csv", "--max-rate", "nan"],
    ["nypd", "replay", "a.csv", "--max-rate"],
    ["nypd", "replay", "a.csv", "--tenant", "--dry-run"],
    ["nypd", "replay", "a.csv", "-tnyc"],
    ["nypd", "replay", "a.csv", "--dry-run=yes"],
    ["nypd", "replay", "a.csv", "--dry"],
    ["nypd", "replay", "a.csv", "--report", ""],
    ["nypd", "replay", ""],
    ["--version", "nypd", "replay", "a.csv"],
    ["-vv", "nypd", "replay", "a.csv"],
    ["nypd", "--help"],
    ["nypd"],
    ["project", "status"],
    [],
]
"""Command lines left to typer (help, errors, spellings the launcher does not read)."""


def typer_reads(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[bool, str | None, ReplayArgs]:
    """What typer's app makes of ``argv``: the root options and the replay's arguments."""
    seen: list[object] = []
    monkeypatch.setattr(nypd, "run_replay", lambda args: seen.append(args) or 0)
    monkeypatch.setattr(
        "prestacop.cli.main.configure", lambda verbose, creds: seen.extend([verbose, creds])
    )
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    verbose, creds, args = seen
    assert isinstance(verbose, bool) and isinstance(args, ReplayArgs)
    return verbose, creds if creds is None else str(creds), args


@pytest.mark.parametrize("argv", PLAIN, ids=" ".join)
def test_a_plain_replay_is_read_as_typer_reads_it(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert launch.replay_command(argv) == typer_reads(argv, monkeypatch)


@pytest.mark.parametrize("argv", TYPERS, ids=lambda a: " ".join(a) or "(none)")
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert launch.replay_command(argv) is None


def test_the_launcher_knows_every_option_of_the_replay_and_no_other() -> None:
    """An option added to ``cli.nypd`` and not here would go to typer: slower, not wrong;
    this test says so at once."""
    group = typer.main.get_command(app)
    command = group.commands["nypd"].commands["replay"]  # type: ignore[attr-defined]
    flags = {o for p in command.params if getattr(p, "is_flag", False) for o in p.opts}
    valued = {
        o
        for p in command.params
        if not getattr(p, "is_flag", False) and p.param_type_name == "option"
        for o in p.opts
    }
    assert (set(launch.FLAGS), set(launch.VALUES)) == (flags - {"--help"}, valued)
    root = {o for p in group.params for o in p.opts}
    assert root - {"--version", "--install-completion", "--show-completion", "--help"} == {
        "-v",
        "--verbose",
        "--creds",
    }


def test_the_paths_are_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = launch.replay_command(["nypd", "replay", "a.csv", "--report", "r.json"])
    assert plain is not None and plain[2].report == Path("r.json")
