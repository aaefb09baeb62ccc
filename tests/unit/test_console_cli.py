"""``prestacop console``: its options, and clear refusals before any server is touched."""

from __future__ import annotations

from typer.testing import CliRunner

from prestacop.cli.main import app

runner = CliRunner()


def test_the_console_command_lists_its_options() -> None:
    result = runner.invoke(app, ["console", "--help"])
    assert result.exit_code == 0
    for option in ("--officer", "--tenant", "--escalate-after", "--control-cmd"):
        assert option in result.output


def test_an_officer_id_with_spaces_is_refused() -> None:
    result = runner.invoke(app, ["console", "--officer", "jane doe"])
    assert result.exit_code == 2
    assert "officer id" in result.output


def test_no_server_is_a_clear_error(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.setenv("PRESTACOP_HOME", str(tmp_path))
    result = runner.invoke(app, ["console", "--officer", "jane"])
    assert result.exit_code == 2
    assert "no NATS server" in result.output
