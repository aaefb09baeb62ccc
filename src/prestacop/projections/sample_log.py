"""A realistic mix of log events (positions, violations, reviews, decisions, NYPD
history) for tests and benchmarks; deterministic for a given seed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from prestacop.domain import codec
from prestacop.domain.events import (
    HUMAN_REVIEW_CODE,
    AlertClaimed,
    AnyEvent,
    OperatorDecisionRecorded,
    PositionReported,
    ViolationReported,
)
from prestacop.domain.violation_codes import code_table

BOROUGHS = ("Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island")
STATES = ("NY", "NJ", "PA", "CT", "FL")


def sample_events(
    tenant: str,
    n: int,
    *,
    drones: int = 50,
    seed: int = 1,
    start: datetime | None = None,
) -> Iterator[tuple[str, bytes, str]]:
    """``(subject, payload, message_id)`` of ``n`` events: ~70% positions, ~20% drone
    violations (1 in 10 for human review, most of those then claimed and decided),
    ~10% NYPD history."""
    rnd = random.Random(seed)
    codes = [c for c in code_table() if c != HUMAN_REVIEW_CODE]
    time = start or datetime(2026, 1, 1, tzinfo=UTC)
    pending: list[tuple[str, str]] = []
    count = 0
    prefix = f"{tenant}-{seed}"

    def out(event: AnyEvent) -> tuple[str, bytes, str]:
        return codec.subject_for(tenant, event), codec.encode(event), event.message_id

    while count < n:
        count += 1
        time += timedelta(milliseconds=50)
        drone = f"d{rnd.randrange(drones)}"
        mid = f"{prefix}-{count}"
        roll = rnd.random()
        if pending and roll < 0.02:
            alert, adrone = pending.pop(0)
            yield out(
                AlertClaimed(
                    message_id=mid, alert_id=alert, drone_id=adrone, officer_id="o1", time=time
                )
            )
            if count < n:
                count += 1
                code = rnd.choice([None, *codes[:20]])
                yield out(
                    OperatorDecisionRecorded(
                        message_id=f"{prefix}-{count}",
                        alert_id=alert,
                        drone_id=adrone,
                        officer_id="o1",
                        time=time,
                        corrected_code=code,
                        note="checked",
                    )
                )
        elif roll < 0.72:
            yield out(
                PositionReported(
                    message_id=mid,
                    drone_id=drone,
                    time=time,
                    latitude=40.7 + rnd.random() / 10,
                    longitude=-74.0 + rnd.random() / 10,
                    altitude_m=30.0,
                    heading_deg=rnd.random() * 359,
                    speed_mps=5.0,
                    battery_pct=rnd.random() * 100,
                )
            )
        elif roll < 0.90:
            review = rnd.random() < 0.1
            code = HUMAN_REVIEW_CODE if review else rnd.choice(codes)
            if review:
                pending.append((mid, drone))
            yield out(
                ViolationReported(
                    message_id=mid,
                    drone_id=drone,
                    time=time,
                    latitude=40.7 + rnd.random() / 10,
                    longitude=-74.0 + rnd.random() / 10,
                    violation_code=code,
                    image_id=f"img-{mid}",
                    plate=f"P{rnd.randrange(5000):04d}",
                    plate_state=rnd.choice(STATES),
                    confidence=0.9,
                    borough=rnd.choice(BOROUGHS),
                    precinct=rnd.randrange(1, 120),
                )
            )
        else:
            yield out(
                ViolationReported(
                    message_id=f"nypd:{mid}",
                    drone_id=f"nypd{rnd.randrange(5)}",
                    time=time,
                    latitude=None,
                    longitude=None,
                    violation_code=rnd.choice(codes),
                    plate=f"P{rnd.randrange(5000):04d}",
                    plate_state=rnd.choice(STATES),
                    borough=rnd.choice(BOROUGHS),
                    precinct=rnd.randrange(0, 120),
                    location_precision="precinct",
                    origin="nypd_history",
                    summons_number=str(rnd.randrange(10**9)),
                )
            )
