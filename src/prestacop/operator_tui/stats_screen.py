"""The console's statistics screen: the charts of ``prestacop stats`` (textual-plotext).

The figures come from a loader (the ``statistics`` view, read in a worker thread, so the
alert feed never waits on PostgreSQL) and are refreshed every ``every`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual_plotext import PlotextPlot

from prestacop.analysis.charts import Figures, draw

CHARTS = 5


class StatsScreen(Screen[None]):
    DEFAULT_CSS = """
    StatsScreen Grid { grid-size: 2 3; grid-gutter: 1; }
    StatsScreen #stats-status { height: 1; }
    """
    BINDINGS = [
        Binding("escape,s", "app.pop_screen", "Alerts"),
        Binding("g", "reload", "Refresh"),
    ]

    def __init__(self, load: Callable[[], Figures], every: float = 15.0) -> None:
        super().__init__()
        self.load = load
        self.every = every
        self.figures: Figures | None = None

    def compose(self) -> ComposeResult:
        yield Static("loading statistics…", id="stats-status")
        with Grid():
            for i in range(CHARTS):
                yield PlotextPlot(id=f"chart-{i}")
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()
        self.set_interval(self.every, self.action_reload)

    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True)
    def _load(self) -> None:
        try:
            figures = self.load()
        except Exception as err:  # the view may not exist yet, PostgreSQL may be away
            self.app.call_from_thread(self._status, f"statistics unavailable: {err}")
            return
        self.app.call_from_thread(self.show, figures)

    def _status(self, text: str) -> None:
        self.query_one("#stats-status", Static).update(text)

    def show(self, figures: Figures) -> None:
        self.figures = figures
        self._status(f"{figures.tenant}: {figures.total} violations (s / Esc: back to alerts)")
        for i, (title, series, kind) in enumerate(figures.charts()):
            plot = self.query_one(f"#chart-{i}", PlotextPlot)
            plot.plt.clear_figure()
            draw(plot.plt, title, series, kind)
            plot.refresh()
