"""How many processes a replay uses: one on a weak client, two where cores are to spare."""

from __future__ import annotations

import pytest

from prestacop.nypd_replay.run import second_process


@pytest.mark.parametrize(
    ("wanted", "cpus", "two"),
    [
        (None, 1, False),
        (None, 2, False),  # NYPD's weak client: one process (issue 13: as fast, 25 MB less)
        (None, 3, True),
        (True, 2, True),  # --parse-process
        (True, 1, False),  # one core: a second process only adds its cost
        (False, 8, False),  # --single-process
    ],
)
def test_a_second_process_parses_only_when_asked_or_with_three_cores(
    wanted: bool | None, cpus: int, two: bool
) -> None:
    assert second_process(wanted, cpus) is two
