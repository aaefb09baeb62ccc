"""The console's statistics screen shows the figures it is given, and says when it has none."""

from __future__ import annotations

from textual.app import App
from textual_plotext import PlotextPlot

from prestacop.analysis.charts import Figures, figures_from_rows
from prestacop.operator_tui.stats_screen import StatsScreen
from tests.conftest import wait_until

ROWS = [
    {"dimension": "local_hour", "key": "09", "violations": 7},
    {"dimension": "code", "key": "21", "violations": 5},
    {"dimension": "code", "key": "38", "violations": 2},
    {"dimension": "origin", "key": "drone", "violations": 7},
]


def test_figures_keep_the_local_hours_and_the_top_final_codes() -> None:
    figures = figures_from_rows("nypd", [*ROWS, {"dimension": "code", "key": "dismissed",
                                                 "violations": 3}], top=1)  # fmt: skip
    assert figures.total == 7 and figures.top_codes == [("21", 5)]
    assert len(figures.by_hour) == 24 and figures.by_hour[9] == ("09", 7)


async def test_the_screen_draws_each_chart_from_the_loaded_figures() -> None:
    loads: list[Figures] = []

    def load() -> Figures:
        loads.append(figures_from_rows("nypd", ROWS))
        return loads[-1]

    app: App[None] = App()
    async with app.run_test():
        screen = StatsScreen(load)
        await app.push_screen(screen)
        await wait_until(lambda: screen.figures is not None, timeout=5, what="figures shown")
        assert screen.figures is loads[0]
        assert len(screen.query(PlotextPlot)) == 5


async def test_the_screen_says_when_the_statistics_cannot_be_read() -> None:
    def load() -> Figures:
        raise ConnectionError("PostgreSQL is away")

    app: App[None] = App()
    async with app.run_test():
        screen = StatsScreen(load)
        await app.push_screen(screen)
        status = screen.query_one("#stats-status")
        await wait_until(lambda: "unavailable" in str(status.render()), timeout=5, what="status")
        assert "PostgreSQL is away" in str(status.render())
