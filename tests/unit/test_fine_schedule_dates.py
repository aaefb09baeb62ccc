"""The fine schedule's change-over dates against the only dated amounts we have: the camera
file's own ``fine_amount`` (NYC Open Data "Open Parking and Camera Violations", 2018-2022).

Every camera ticket whose code and area are known must be booked at the amount it carries:
a change-over date that puts a 2013 amount after a current one (or the reverse) fails here.
Area from the precinct: 1-22 Manhattan below 96th Street, 35 and above elsewhere (23-34
straddle 96th Street or are north of it: skipped)."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

from prestacop.domain.fines import schedule, scheduled_fine


def test_every_camera_ticket_is_booked_at_the_amount_it_carries(shared_data: Path) -> None:
    with (shared_data / "reference" / "violation_codes.csv").open(encoding="utf-8") as f:
        codes = {row[1].strip(): int(row[0]) for row in list(csv.reader(f))[1:]}
    tickets = json.loads(
        (shared_data / "nypd" / "open_parking_camera_api_sriram11111.json").read_text()
    )
    checked, wrong = 0, []
    for t in tickets:
        code = codes.get(t.get("violation", "").strip())
        precinct = int(t.get("precinct") or 0)
        if code is None or code not in schedule() or 23 <= precinct <= 34 or precinct < 1:
            continue
        borough = "Manhattan" if precinct < 23 else "elsewhere"
        day = datetime.strptime(t["issue_date"], "%m/%d/%Y").date()
        booked = scheduled_fine(code, day, borough, precinct)
        checked += 1
        if booked != int(float(t["fine_amount"])):
            wrong.append(
                (t["summons_number"], day.isoformat(), code, precinct, t["fine_amount"], booked)
            )
    assert checked > 500
    assert wrong == []
