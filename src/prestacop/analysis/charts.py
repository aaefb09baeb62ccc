"""The main statistics as terminal charts (plotext), read from the ``statistics`` view.

The same ``Figures`` feed ``prestacop stats`` and the console's statistics screen, so both
show what the view holds: local hours and weekdays, final codes, months, boroughs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prestacop.projections.local_time import WEEKDAYS

if TYPE_CHECKING:
    import psycopg

Series = list[tuple[str, int]]
Connect = Callable[[], "psycopg.Connection[Any]"]
"""Opens a PostgreSQL connection (made by ``bootstrap.postgres``)."""
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Figures:
    tenant: str
    total: int = 0
    by_hour: Series = field(default_factory=list)
    by_weekday: Series = field(default_factory=list)
    top_codes: Series = field(default_factory=list)
    by_month: Series = field(default_factory=list)
    by_borough: Series = field(default_factory=list)

    def charts(self) -> list[tuple[str, Series, str]]:
        """(title, series, kind) for each chart; kind is ``bar`` or ``line``."""
        return [
            ("Tickets per local hour", self.by_hour, "bar"),
            ("Tickets per local weekday", self.by_weekday, "bar"),
            ("Top codes (after officers' decisions)", self.top_codes, "hbar"),
            ("Tickets by local month", self.by_month, "line"),
            ("Tickets by borough", self.by_borough, "hbar"),
        ]


def figures_from_rows(tenant: str, rows: list[dict[str, Any]], top: int = 10) -> Figures:
    """Figures from ``statistics`` rows (dimension, key, violations) of one force."""
    dims: dict[str, dict[str, int]] = {}
    for r in rows:
        dims.setdefault(r["dimension"], {})[r["key"]] = int(r["violations"])
    hours = dims.get("local_hour", {})
    weekdays = dims.get("local_weekday", {})
    codes = {k: v for k, v in dims.get("code", {}).items() if k != "dismissed" and v}
    return Figures(
        tenant=tenant,
        total=sum(dims.get("origin", {}).values()),
        by_hour=[(f"{h:02d}", hours.get(f"{h:02d}", 0)) for h in range(24)],
        by_weekday=[(d, weekdays.get(d, 0)) for d in WEEKDAYS],
        top_codes=sorted(codes.items(), key=lambda kv: (-kv[1], int(kv[0])))[:top],
        by_month=sorted(dims.get("local_month", {}).items()),
        by_borough=sorted(dims.get("borough", {}).items(), key=lambda kv: -kv[1]),
    )


def read_figures(
    connect: Connect, tenant: str, *, namespace: str = "prestacop", top: int = 10
) -> Figures:
    from psycopg import sql
    from psycopg.rows import dict_row

    query = sql.SQL(
        "SELECT dimension, key, violations FROM {}.statistics WHERE tenant = %s"
        " AND dimension IN ('local_hour', 'local_weekday', 'code', 'local_month', 'borough',"
        " 'origin')"
    ).format(sql.Identifier(namespace))
    with connect() as conn:
        rows = conn.cursor(row_factory=dict_row).execute(query, (tenant,)).fetchall()
    return figures_from_rows(tenant, rows, top)


def draw(plt: Any, title: str, series: Series, kind: str) -> None:
    """One chart on a plotext module or a textual-plotext ``plt``."""
    labels = [k for k, _ in series] or ["-"]
    values = [v for _, v in series] or [0]
    if kind == "line":
        plt.plot(list(range(len(values))), values, marker="braille")
        step = max(1, len(labels) // 8)
        plt.xticks(list(range(0, len(labels), step)), labels[::step])
    elif kind == "hbar":
        plt.bar(labels, values, orientation="horizontal", width=0.3)
    else:
        plt.bar(labels, values, width=0.6)
    plt.title(title)


def draw_all(figures: Figures, width: int = 100, height: int = 18) -> str:
    """All charts, one under the other, as text for the terminal."""
    import plotext as plt

    parts = [f"{figures.tenant}: {figures.total} violations"]
    for title, series, kind in figures.charts():
        plt.clear_figure()
        plt.plotsize(width, height)
        plt.theme("clear")
        draw(plt, title, series, kind)
        parts.append(_ANSI.sub("", plt.build()))
    return "\n".join(parts)
