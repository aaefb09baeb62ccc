"""Help readable at 80 columns, ``--version``, and output for scripts never wrapped."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from prestacop.cli.main import app

runner = CliRunner()


def commands(group=None, path=()):  # type: ignore[no-untyped-def]
    """Every command and group of the CLI, as argument lists (the tree, not a list to keep)."""
    group = group or typer.main.get_command(app)
    yield list(path), group
    for name, sub in getattr(group, "commands", {}).items():
        yield from commands(sub, (*path, name))


COMMANDS = list(commands())


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[0]) or "prestacop")
def test_help_fits_80_columns_without_python_types(command) -> None:  # type: ignore[no-untyped-def]
    """At 80 columns every option name and default is whole: no line longer, nothing cut
    (rich marks a cut with an ellipsis), no Python type labels."""
    path, cmd = command
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "…" not in result.output, result.output
    assert not re.search(r"<(bool|str|int|float|path)[^>]*>", result.output), result.output
    text = result.output
    for param in cmd.params:
        for name in (*param.opts, *param.secondary_opts):
            if name.startswith("--"):
                assert name in text, (name, text)


def test_replay_help_shows_whole_option_names() -> None:
    result = runner.invoke(app, ["nypd", "replay", "--help"], terminal_width=80)
    for name in ("--per-message-acks", "--single-process", "--max-rate", "--state-dir"):
        assert name in result.output


def test_console_help_lists_its_keys() -> None:
    result = runner.invoke(app, ["console", "--help"], terminal_width=80)
    text = " ".join(result.output.split())
    keys = ("c claim", "t take control", "r resolve", "u release", "o open the image", "q quit")
    for key in keys:
        assert key in text, text


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"prestacop \d+\.\d+\S*\n", result.output)


def test_errors_are_not_wrapped_or_styled_for_scripts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A long URL in an error stays on one line when stderr is a pipe."""
    long_url = "nats://" + "a" * 120 + ".invalid:4222"
    env = {**os.environ, "NATS_URL": long_url, "PRESTACOP_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "prestacop.cli", "setup"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    [line] = result.stderr.splitlines()
    assert long_url in line and "\x1b[" not in line
