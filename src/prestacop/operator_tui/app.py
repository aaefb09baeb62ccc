"""The officers' console: live alerts, claim, take control, resolve, release.

The app is given its ports (``AlertLog``, ``DroneControl``); it never builds an
adapter. The feed pushes items into the app as messages; the one-second timer
only redraws ages and escalation, it synchronises nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Static

from prestacop.alerts.desk import AlertDesk
from prestacop.alerts.ports import (
    AlertLog,
    AlertLogUnavailable,
    DroneControl,
    FeedItem,
    FeedState,
    LogEntry,
)
from prestacop.domain.alerts import Alert, AlertRefused, is_escalated
from prestacop.operator_tui.gc_tuning import freeze_startup_objects
from prestacop.operator_tui.messages import FeedItemArrived, FeedStateChanged
from prestacop.operator_tui.opener import open_in_viewer
from prestacop.operator_tui.picture import halfblocks, save_image
from prestacop.operator_tui.resolve import ResolveScreen, Verdict
from prestacop.operator_tui.widgets import AlertTable, details, fmt_age

REDRAW_DELAY_S = 0.2


class ConsoleApp(App[None]):
    CSS_PATH = "console.tcss"
    TITLE = "PrestaCop console"
    BINDINGS = [
        Binding("c", "claim", "Claim"),
        Binding("t", "take_control", "Control"),
        Binding("r", "resolve", "Resolve"),
        Binding("u", "release", "Release"),
        Binding("o", "open_image", "Image"),
        Binding("s", "statistics", "Stats"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        alert_log: AlertLog,
        officer_id: str,
        control: DroneControl,
        *,
        escalate_after: timedelta = timedelta(minutes=2),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        image_dir: Path | None = None,
        on_arrival: Callable[[FeedItem], None] | None = None,
        freeze_gc: bool = False,
        stats: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__()
        self.stats = stats
        """Loads the statistics screen's figures (``analysis.charts.read_figures``)."""
        self.alert_log = alert_log
        self.officer_id = officer_id
        self.desk = AlertDesk(alert_log, officer_id, control, clock=clock)
        self.escalate_after = escalate_after
        self.clock = clock
        self.image_dir = image_dir
        self.on_arrival = on_arrival
        self.freeze_gc = freeze_gc
        self.feed_state: FeedState = "connecting"
        self.selected: str | None = None
        self.message_text = ""
        self._shown: dict[str, Text] = {}
        self._redraw_pending = False
        self._images: dict[str, Path | None] = {}
        self._positions: dict[str, LogEntry | None] = {}
        self._pictures: dict[str, Text | None] = {}

    # -- layout and feed ------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        yield Static(id="counts")
        yield AlertTable(id="alerts")
        with Horizontal(id="detail"):
            yield Static(id="info")
            yield Static(id="picture")
        yield Static(id="message")
        yield Footer()

    def on_mount(self) -> None:
        # The main screen's widgets, kept: a query while a dialog is open searches the dialog.
        self._statics = {
            f"#{w.id}": w
            for w in self.query(Static)
            if w.id in ("topbar", "counts", "info", "picture", "message")
        }
        self._table = table = self.query_one("#alerts", AlertTable)
        table.add_alert_columns()
        table.focus()
        self.set_interval(1.0, self.tick)
        self.redraw()
        self.run_worker(self._follow(), name="feed", exit_on_error=False)

    async def _follow(self) -> None:
        await self.alert_log.follow(self._post_item, self._post_state)

    def _post_item(self, item: FeedItem) -> None:
        self.post_message(FeedItemArrived(item))

    def _post_state(self, state: FeedState) -> None:
        self.post_message(FeedStateChanged(state))

    def on_feed_item_arrived(self, message: FeedItemArrived) -> None:
        if self.on_arrival is not None:
            self.on_arrival(message.item)
        alert = self.desk.apply(message.item)
        if self.feed_state == "replaying":
            return  # drawn once when caught up
        if alert is not None and alert.status == "open" and alert.last_seq == 0:
            self.bell()  # a new alert
        self._redraw_soon()

    def _redraw_soon(self) -> None:
        """Coalesce redraws: a burst of alerts costs one redraw, and the handler stays quick."""
        if not self._redraw_pending:
            self._redraw_pending = True
            self.set_timer(REDRAW_DELAY_S, self._redraw_due)

    def _redraw_due(self) -> None:
        self._redraw_pending = False
        self.redraw()

    def on_feed_state_changed(self, message: FeedStateChanged) -> None:
        self.feed_state = message.state
        if message.state == "live" and self.freeze_gc:
            self.freeze_gc = False
            freeze_startup_objects()
        self.redraw()

    # -- drawing --------------------------------------------------------------

    def redraw(self, *, ages: bool = False) -> None:
        """Draw what changed; ``ages`` also the visible ages whose text changed (the tick)."""
        now = self.clock()
        self._draw_bars(now)
        self._draw_table(now, ages=ages)
        self._draw_detail(now)

    def tick(self) -> None:
        self.redraw(ages=True)
        alert = self.desk.board.get(self.selected) if self.selected else None
        if alert is not None and alert.violation is not None and alert.alert_id in self._positions:
            # "Drone now" must stay true while the officer watches: one direct get a second.
            self.run_worker(self._follow_drone(alert), group="position", exclusive=True)

    async def _follow_drone(self, alert: Alert) -> None:
        assert alert.violation is not None
        try:
            position = await self.alert_log.last_position(alert.violation.drone_id)
        except AlertLogUnavailable:
            return  # the top bar already says the link is down
        if position is not None:
            self._positions[alert.alert_id] = position
            if self.selected == alert.alert_id:
                self._show("#info", self._details(alert, self.clock()))

    def _draw_bars(self, now: datetime) -> None:
        state = {
            "live": Text("● live", "bold green"),
            "replaying": Text("◌ reading missed alerts…", "yellow"),
            "reconnecting": Text("◌ reconnecting…", "bold red"),
            "connecting": Text("◌ connecting…", "yellow"),
        }[self.feed_state]
        top = Text.assemble(
            ("PrestaCop ", "bold"), f"officer {self.officer_id} · {self.alert_log.tenant} · ", state
        )
        self._show("#topbar", top)
        day_start = now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        counts = self.desk.board.counts(
            now=now, day_start=day_start, escalate_after=self.escalate_after
        )
        line = Text.assemble(
            ("open ", "dim"),
            (str(counts.open), "bold"),
            ("  claimed ", "dim"),
            (str(counts.claimed), "bold"),
            ("  resolved today ", "dim"),
            (str(counts.resolved_today), "bold"),
        )
        if counts.escalated:
            line.append(
                f"  ⚠ {counts.escalated} waiting > {fmt_age(self.escalate_after)}", "bold red"
            )
        active = self.desk.board.active()
        if active:
            newest = max(active, key=lambda a: a.raised_at)
            line.append(f"  newest {fmt_age(newest.age(now))} ago", "dim")
        if self.desk.unreadable:
            line.append(f"  {len(self.desk.unreadable)} unreadable", "bold magenta")
        self._show("#counts", line)

    def _row_style(self, alert: Alert, now: datetime) -> str:
        if is_escalated(alert, now, self.escalate_after):
            return "bold white on red"
        if alert.holder == self.officer_id:
            return "bold green"
        return "yellow" if alert.status == "claimed" else ""

    def _draw_table(self, now: datetime, *, ages: bool = False) -> None:
        self.selected = self._table.show(
            self.desk.board.active(),
            now,
            lambda a: self._row_style(a, now),
            self.selected,
            ages=ages,
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key != self.selected:
            self.selected = key
            self._draw_detail(self.clock())

    def _draw_detail(self, now: datetime) -> None:
        alert = self.desk.board.get(self.selected) if self.selected else None
        if alert is None or alert.violation is None:
            self._show(
                "#info",
                Text(
                    "No alert selected."
                    if self.desk.board.active()
                    else "No open alert. New ones appear here as drones raise them.",
                    "dim",
                ),
            )
            self._show("#picture", Text(""))
            return
        self._show("#info", self._details(alert, now))
        if alert.alert_id not in self._images:
            self._images[alert.alert_id] = None
            self.run_worker(self._load(alert), group="load")
        self._show("#picture", self._pictures.get(alert.alert_id) or Text("(loading…)", "dim"))

    def _show(self, selector: str, content: Text) -> None:
        """Update a Static only when its content changed: every update costs a render."""
        if self._shown.get(selector) != content:
            self._shown[selector] = content
            self._statics[selector].update(content)

    def _details(self, alert: Alert, now: datetime) -> Text:
        saved = self._images.get(alert.alert_id) is not None
        position = self._positions.get(alert.alert_id)
        return details(alert, now, self.officer_id, position, saved)

    async def _load(self, alert: Alert) -> None:
        """The image and the drone's last position, read once per alert."""
        v = alert.violation
        assert v is not None
        try:
            self._positions[alert.alert_id] = await self.alert_log.last_position(v.drone_id)
            data = await self.alert_log.image(v.image_id) if v.image_id else None
        except AlertLogUnavailable as err:
            self._images.pop(alert.alert_id, None)
            self.say(str(err), "error")
            return
        if data is None:
            self._pictures[alert.alert_id] = Text("(no image in the store)", "red")
        else:
            path = save_image(data, v.image_id or alert.alert_id, self.image_dir)
            self._images[alert.alert_id] = path
            self._pictures[alert.alert_id] = halfblocks(data, 32, 9) or Text(
                f"({len(data)} bytes: not a picture\nthis terminal can draw;\nsee the file)", "dim"
            )
        self._draw_detail(self.clock())

    # -- commands -------------------------------------------------------------

    def say(self, text: str, kind: str = "") -> None:
        self.message_text = text
        bar = self._statics["#message"]
        bar.set_classes(kind)
        bar.update(Text(text, no_wrap=True, overflow="ellipsis"))

    def _selected_alert(self) -> Alert | None:
        alert = self.desk.board.get(self.selected) if self.selected else None
        if alert is None:
            self.say("select an alert first", "error")
        return alert

    def _run(self, what: str, coro: Coroutine[Any, Any, object]) -> None:
        async def attempt() -> None:
            try:
                await coro
            except AlertRefused as err:
                self.say(f"{what}: {err}", "error")
            except AlertLogUnavailable as err:
                self.say(f"{what}: {err}", "error")
            else:
                self.say(f"{what}: done", "ok")

        self.say(f"{what}…")
        self.run_worker(attempt(), group="commands")

    def action_statistics(self) -> None:
        from prestacop.operator_tui.stats_screen import StatsScreen

        if self.stats is None:
            self.say("statistics need the database: no DATABASE_URL or running runtime", "error")
        else:
            self.push_screen(StatsScreen(self.stats))

    def action_claim(self) -> None:
        if alert := self._selected_alert():
            self._run(f"claim {alert.alert_id[:12]}", self.desk.claim(alert.alert_id))

    def action_release(self) -> None:
        if alert := self._selected_alert():
            self._run(f"release {alert.alert_id[:12]}", self.desk.release(alert.alert_id))

    def action_take_control(self) -> None:
        alert = self._selected_alert()
        if alert is None:
            return

        async def take() -> None:
            try:
                result, not_recorded = await self.desk.take_control(alert.alert_id)
            except AlertRefused as err:
                self.say(f"control: {err}", "error")
                return
            text = f"control of {alert.drone_id}: {result.summary()}"
            if not_recorded:
                text += f" ({not_recorded})"
            self.say(text, "ok" if result.succeeded and not not_recorded else "error")

        self.say(f"taking control of {alert.drone_id}…")
        self.run_worker(take(), group="commands")

    def action_resolve(self) -> None:
        alert = self._selected_alert()
        if alert is None:
            return
        if alert.holder != self.officer_id:
            self.say("resolve: claim it first (c)", "error")
            return

        def decided(verdict: Verdict | None) -> None:
            if verdict is None:
                self.say("resolve: cancelled")
                return
            self._run(
                f"resolve {alert.alert_id[:12]} as "
                + (str(verdict.corrected_code) if verdict.corrected_code else "no violation"),
                self.desk.resolve(alert.alert_id, verdict.corrected_code, verdict.note),
            )

        self.push_screen(ResolveScreen(f"{alert.alert_id[:12]} (drone {alert.drone_id})"), decided)

    def action_open_image(self) -> None:
        alert = self._selected_alert()
        path = self._images.get(alert.alert_id) if alert else None
        if alert is None:
            return
        if path is None:
            self.say("image not loaded (yet)", "error")
            return
        if open_in_viewer(path):
            self.say(f"opened {path}", "ok")
        else:
            self.say(f"image saved at {path} (no viewer here: copy it or open it elsewhere)")
