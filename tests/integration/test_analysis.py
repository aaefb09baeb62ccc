"""The analysts' questions of docs/analysis.md, answered from the views after a real replay of
the NYPD sample files, equal figures computed independently from the raw files (csv module).

Also: the replay keeps what it used to lose (a record quoted whole, a legacy description, an
unreadable time) and the views lead back to the raw row.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.bootstrap import LogClient
from prestacop.bootstrap import replayer as Replayer
from prestacop.nypd_replay.replay import ReplayOptions
from prestacop.nypd_replay.source import identity
from tests.conftest import wait_until
from tests.projection_support import caught_up_to_heads, namespace, projecting, rows
from tests.unit.test_nypd_translation import HEADER_43, ROW_43

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "analysis.md"
DATA = ROOT / "src" / "prestacop" / "data"
SAMPLES = ("fy2017_tsaimandy9112_mysql-exercise.csv", "fy2022_trunc_jernejvivod.csv",
           "fy2023-24_sample_pradheepnair.csv")  # fmt: skip


def queries() -> dict[str, str]:
    return dict(re.findall(r"```sql (\w+)\n(.*?)```", DOC.read_text(), re.S))


def _data_rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


class Independent:
    """The raw files read with the csv module and the reference tables, nothing else."""

    def __init__(self, files: list[Path]) -> None:
        codes = {int(r["CODE"]) for r in csv.DictReader(open(DATA / "violation_codes.csv"))}
        precincts = {int(r["precinct"]): r["borough"] for r in _data_rows("nypd_precincts.csv")}
        counties = {
            s.upper(): r["borough"]
            for r in _data_rows("nyc_boroughs.csv")
            for s in r["county_spellings"].split(";")
        }
        rates: defaultdict[int, list[tuple[date, int, int]]] = defaultdict(list)
        for r in _data_rows("fine_schedule.csv"):
            rates[int(r["code"])].append(
                (date.fromisoformat(r["valid_from"]), int(r["manhattan_96th_and_below"] or 0),
                 int(r["all_other_areas"] or 0))
            )  # fmt: skip
        self.tickets: list[dict[str, Any]] = []
        seen: set[str] = set()
        for path in files:
            with open(path, newline="", encoding="utf-8", errors="replace") as f:
                for row in csv.DictReader(f):
                    code = row["Violation Code"].strip()
                    summons = row["Summons Number"].strip()
                    m, d, y = (int(p) for p in row["Issue Date"].split("/"))
                    day = date(y, m, d)
                    if not code.isdigit() or int(code) not in codes or summons in seen:
                        continue
                    if day > date.today():
                        continue
                    seen.add(summons)
                    pct = row["Violation Precinct"].strip()
                    number = int(pct) if pct.isdigit() else None
                    borough = precincts.get(number) if number in precincts else None
                    borough = borough or counties.get(row["Violation County"].strip().upper())
                    below = borough == "Manhattan" and number is not None and 0 < number < 23
                    periods = sorted(rates[int(code)])
                    rate = [p for p in periods if p[0] <= day] or periods[:1]
                    state = row["Registration State"].strip()
                    self.tickets.append(
                        {
                            "code": int(code),
                            "borough": borough,
                            "precinct": number if number and number <= 999 else None,
                            "hour": _hour(row["Violation Time"]),
                            "state": None if state in ("", "99") else state,
                            "fine": rate[-1][1] if below else rate[-1][2],
                            "month": date(y, m, 1),
                        }
                    )

    def top_codes_per_borough(self) -> list[tuple[Any, ...]]:
        counts = Counter((t["borough"], t["code"]) for t in self.tickets)
        out = []
        for (borough, code), n in counts.items():
            rank = 1 + sum(1 for (b, _), m in counts.items() if b == borough and m > n)
            if rank <= 3:
                out.append((borough, code, n))
        return sorted(out, key=lambda r: (r[0] is None, r[0] or "", -r[2], r[1]))

    def tickets_by_local_hour(self) -> list[tuple[Any, ...]]:
        counts = Counter(t["hour"] for t in self.tickets)
        return sorted(counts.items(), key=lambda r: (r[0] is None, r[0] or 0))

    def out_of_state_share(self) -> list[tuple[Any, ...]]:
        known = [t for t in self.tickets if t["state"] is not None]
        share = 100 * Decimal(sum(t["state"] != "NY" for t in known)) / len(known)
        return [(share.quantize(Decimal("0.01")),)]

    def fines_per_precinct(self) -> list[tuple[Any, ...]]:
        fines: Counter[Any] = Counter()
        tickets: Counter[Any] = Counter()
        for t in self.tickets:
            fines[t["precinct"]] += t["fine"]
            tickets[t["precinct"]] += 1
        out = [(p, fines[p], tickets[p]) for p in tickets]
        return sorted(out, key=lambda r: (-r[1], r[0] is None, r[0] or 0))

    def month_over_month(self) -> list[tuple[Any, ...]]:
        counts = sorted(Counter(t["month"] for t in self.tickets).items())
        return [
            (month, n, None if i == 0 else n - counts[i - 1][1])
            for i, (month, n) in enumerate(counts)
        ]


def _hour(text: str) -> int | None:
    s = text.strip().upper()
    if len(s) == 4 and s.isdigit():  # 24-hour time, as a few rows have it
        s += "H"
    if len(s) != 5 or not s[:4].isdigit() or s[4] not in "APH":
        return None
    hour, minute = int(s[:2]), int(s[2:4])
    if s[4] == "A" and hour == 12:
        hour = 0
    elif s[4] == "P" and hour < 12:
        hour += 12
    return hour if hour <= 23 and minute <= 59 else None


async def replay_and_project(
    log: LogClient, nats_url: str, database_url: str, tenant: str, files: list[str], tmp: Path
) -> tuple[str, ProjectionStore]:
    opts = ReplayOptions(tenant=tenant, state_dir=tmp / "state", rejects=tmp / "rejects.csv")
    report = await Replayer(log.nc.connected_url.geturl(), opts).run(files)
    assert report.ok
    ns = namespace()
    store = ProjectionStore(database_url, ns)
    views = ["statistics", "violations", "replay_runs"]
    async with projecting(nats_url, database_url, ns, views):
        await wait_until(
            lambda: caught_up_to_heads(store, log, *views),
            timeout=60,
            what="views caught up with the replay",
        )
    return ns, store


async def test_each_documented_question_equals_the_raw_files_figures(
    log, nats_url, database_url, tenant, tmp_path, shared_data
):
    files = [shared_data / "nypd" / name for name in SAMPLES]
    ns, store = await replay_and_project(
        log, nats_url, database_url, tenant, [str(f) for f in files], tmp_path
    )
    expected = Independent(files)
    assert len(expected.tickets) > 3000
    try:
        found = queries()
        assert set(found) == {
            "top_codes_per_borough", "tickets_by_local_hour", "out_of_state_share",
            "fines_per_precinct", "month_over_month",
        }  # fmt: skip
        for name, query in found.items():
            sql = query.replace("prestacop.", f"{ns}.").replace("'nypd'", "%s")
            got = [tuple(r.values()) for r in rows(store, sql, *[tenant] * sql.count("%s"))]
            assert got == getattr(expected, name)(), name
    finally:
        store.close()


async def test_a_real_replay_keeps_wrapped_legacy_and_untimed_tickets_traceable_to_their_row(
    log, nats_url, database_url, tenant, tmp_path
):
    header = HEADER_43.split(",")
    legacy = next(csv.reader([ROW_43]))
    legacy[0], legacy[5] = "71", ""  # no code: the description is all there is
    legacy[header.index("Violation Description")] = "FEEDING METER"
    untimed = next(csv.reader([ROW_43]))
    untimed[0], untimed[header.index("Violation Time")] = "72", "1260A"
    lines = [
        HEADER_43,
        '"' + ROW_43.replace("1457617912", "70", 1) + '"',
        ",".join(legacy),
        ",".join(untimed),
        "73,1,2",  # rejected: the run and its reject land in the force's history
    ]
    path = tmp_path / "fidelity.csv"
    path.write_text("\r\n".join(lines) + "\r\n")
    ns, store = await replay_and_project(log, nats_url, database_url, tenant, [str(path)], tmp_path)
    try:
        got = rows(
            store,
            f"SELECT summons_number, code, time_precision, source_file, source_line,"
            f" (time AT TIME ZONE 'America/New_York')::date AS day"
            f" FROM {ns}.violations WHERE tenant = %s ORDER BY source_line",
            tenant,
        )
        assert [tuple(r.values()) for r in got] == [
            ("70", 40, "exact", "fidelity.csv", 2, date(2021, 6, 25)),
            ("71", 33, "exact", "fidelity.csv", 3, date(2021, 6, 25)),
            ("72", 40, "day", "fidelity.csv", 4, date(2021, 6, 25)),
        ]
        hours = rows(
            store,
            f"SELECT local_hour, sum(violations) AS violations FROM {ns}.statistics_cube"
            " WHERE tenant = %s GROUP BY local_hour ORDER BY local_hour NULLS LAST",
            tenant,
        )
        assert [(h["local_hour"], h["violations"]) for h in hours] == [(1, 2), (None, 1)]
        [run] = rows(store, f"SELECT * FROM {ns}.replay_runs WHERE tenant = %s", tenant)
        assert (run["rows_read"], run["events"], run["rejected"], run["ok"]) == (4, 3, 1, True)
        assert json.loads(run["rejected_by_reason"]) == {"wrong_field_count": 1}
        [bad] = rows(store, f"SELECT * FROM {ns}.replay_rejects WHERE tenant = %s", tenant)
        assert (bad["source_file"], bad["line"], bad["reason"], bad["raw"]) == (
            "fidelity.csv",
            5,
            "wrong_field_count",
            "73,1,2",
        )
        assert bad["source_id"] == identity(str(path)) and bad["run_id"] == run["run_id"]
    finally:
        store.close()
