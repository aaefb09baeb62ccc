"""Running the drone-control software: no shell, failures told, long sessions left running."""

from __future__ import annotations

import sys

import pytest

from prestacop.alerts.control import CommandControl, ControlTemplateError, control_argv


def test_the_template_is_split_before_the_drone_id_goes_in() -> None:
    argv = control_argv("dronectl takeover --drone '{drone_id}' --note 'a b'", "d-1; rm -rf /")
    assert argv == ["dronectl", "takeover", "--drone", "d-1; rm -rf /", "--note", "a b"]


@pytest.mark.parametrize(
    ("template", "why"),
    [("", "empty"), ("dronectl 'open", "No closing quotation"), ("x {pilot}", "only {drone_id}")],
)
def test_a_bad_template_says_what_is_wrong(template: str, why: str) -> None:
    with pytest.raises(ControlTemplateError, match=why):
        control_argv(template, "d1")


async def test_a_successful_command_reports_its_output() -> None:
    result = await CommandControl("echo taking {drone_id}").take_over("d7")
    assert result.succeeded and result.exit_code == 0 and result.stdout == "taking d7\n"


async def test_a_failing_command_reports_its_exit_code_and_stderr() -> None:
    result = await CommandControl("sh -c 'echo link down >&2; exit 4'").take_over("d7")
    assert not result.succeeded
    assert result.summary() == "exit code 4: link down"


async def test_a_missing_program_is_an_error_not_a_crash() -> None:
    result = await CommandControl("no-such-dronectl {drone_id}").take_over("d7")
    assert not result.succeeded and "cannot run no-such-dronectl" in result.summary()


async def test_a_control_session_still_open_counts_as_started() -> None:
    template = f"{sys.executable} -c 'import time; time.sleep(2)'"
    result = await CommandControl(template, wait_s=0.2).take_over("d7")
    assert result.succeeded and result.exit_code is None
    assert "still running" in result.summary()
