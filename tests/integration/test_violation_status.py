"""The one violation-status rule, as PostgreSQL computes it for the ``violations`` table."""

from __future__ import annotations

import psycopg
import pytest

from prestacop.projections.views.violations import STATUS


@pytest.mark.parametrize(
    ("drone_code", "code", "decided", "status"),
    [
        (0, 0, False, "pending_review"),
        (21, 21, False, "reported"),
        (21, 21, True, "confirmed"),
        (21, 14, True, "corrected"),
        (21, None, True, "dismissed"),
        (0, 14, True, "corrected"),
    ],
)
def test_a_violation_status_says_whether_and_how_it_was_decided(
    database_url: str, drone_code: int, code: int | None, decided: bool, status: str
) -> None:
    with psycopg.connect(database_url) as conn:
        got = conn.execute(
            f"SELECT {STATUS} FROM (SELECT %s::int AS drone_code, %s::int AS code,"
            " %s::bigint AS decision_seq) AS v",
            (drone_code, code, 7 if decided else None),
        ).fetchone()
    assert got == (status,)
