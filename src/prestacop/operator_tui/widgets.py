"""The console's widgets and what they print: the alert table and the detail text.

Each redraw changes only what changed (every update costs a render, and a long
render holds up the alert feed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import count

from rich.text import Text
from textual.coordinate import Coordinate
from textual.strip import Strip
from textual.widgets import DataTable

from prestacop.alerts.ports import LogEntry
from prestacop.domain.alerts import Alert
from prestacop.domain.events import PositionReported, ViolationReported

COLUMNS = (
    ("age", "Age", 6),
    ("drone", "Drone", 10),
    ("place", "Place", 20),
    ("plate", "Plate", 8),
    ("conf", "Conf", 4),
    ("holder", "Holder", 14),  # "demo-officer" whole
)
STATUS_LABEL = {
    "open": ("OPEN", "bold red"),
    "claimed": ("CLAIMED", "bold yellow"),
    "resolved": ("RESOLVED", "bold green"),
}


def fmt_age(delta: timedelta) -> str:
    s = max(0, int(delta.total_seconds()))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}"
    return f"{s // 86400}d"


def table_age(delta: timedelta) -> str:
    """The table's age, to the minute: a row then changes once a minute, not every second.

    Each change re-renders its row (~1 ms a row, 20-40 ms for a screenful), and an alert
    that arrives meanwhile waits; the details pane keeps the seconds.
    """
    s = max(0, int(delta.total_seconds()))
    if s < 60:
        return "<1m"
    if s < 3600:
        return f"{s // 60}m"
    return fmt_age(delta)


def place_of(v: ViolationReported) -> str:
    where = v.street or (
        f"{v.latitude:.4f},{v.longitude:.4f}" if v.latitude is not None else "unknown place"
    )
    borough = (v.borough or "")[:3].upper()
    return f"{where} {borough}".strip()


class AlertTable(DataTable[Text]):
    """The active alerts, longest waiting first, one row per alert keyed by its id.

    Textual's ``DataTable`` keys its render caches on one counter that every
    ``add_row``/``update_cell`` bumps, so any change re-renders every visible cell (20-80
    ms of CPU a frame, during which arriving alerts wait). Here a row's line is kept until
    that row changes (its version), moves or gets the cursor: a frame costs the rows
    that changed.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._signature_of: dict[str, object] = {}
        self._age_of: dict[str, str] = {}
        self._version_of: dict[str, int] = {}
        self._versions = count()
        self._lines: dict[tuple[object, ...], Strip] = {}

    def add_alert_columns(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def show(
        self,
        active: list[Alert],
        now: datetime,
        style_of: Callable[[Alert], str],
        selected: str | None,
        *,
        ages: bool = False,
    ) -> str | None:
        """Draw ``active``; the id of the selected row after (``None`` when the list is empty)."""
        wanted = {a.alert_id: (a.status, a.holder, style_of(a)) for a in active}
        for row_key in list(self.rows):
            key = row_key.value
            if key is not None and key not in wanted:
                self.remove_row(key)
                for known in (self._signature_of, self._age_of, self._version_of):
                    known.pop(key, None)
        top = self.scroll_offset.y
        visible = range(top, top + self.size.height + 1)
        for index, a in enumerate(active):
            style = wanted[a.alert_id][2]
            if a.alert_id not in self.rows:
                self.add_row(*self._cells_of(a, now, style), key=a.alert_id)
            elif self._signature_of.get(a.alert_id) != wanted[a.alert_id]:
                cells = self._cells_of(a, now, style)
                for (column, _, _), cell in zip(COLUMNS, cells, strict=True):
                    self.update_cell(a.alert_id, column, cell)
            elif ages and index in visible:  # only its age ticks (each change costs a render)
                age = table_age(a.age(now))
                if age != self._age_of.get(a.alert_id):
                    self._age_of[a.alert_id] = age
                    self._version_of[a.alert_id] = next(self._versions)
                    self.update_cell(a.alert_id, "age", Text(age, style))
            self._signature_of[a.alert_id] = wanted[a.alert_id]
        order = list(wanted)
        if [shown.key.value for shown in self.ordered_rows] != order:  # one raised out of order
            rank = {id(self.get_cell(key, "age")): i for i, key in enumerate(order)}
            self.sort("age", key=lambda age_cell: rank[id(age_cell)])
        if not active:
            return None
        if selected in wanted:
            row = self.get_row_index(selected)
            if self.cursor_row != row:
                self.move_cursor(row=row, animate=False)
            return selected
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def _cells_of(self, alert: Alert, now: datetime, style: str) -> tuple[Text, ...]:
        """The row's cells, noted as its new version (its kept line is stale)."""
        cells = _cells(alert, now, style)
        self._age_of[alert.alert_id] = cells[0].plain
        self._version_of[alert.alert_id] = next(self._versions)
        return cells

    def render_line(self, y: int) -> Strip:
        """A row's line as last drawn, unless it changed; the cursor's and hover's are live."""
        header = self.header_height if self.show_header else 0
        index = y + self.scroll_offset.y - header
        live = (self.cursor_coordinate.row, self.hover_coordinate.row)
        if y < header or not 0 <= index < self.row_count or index in live:
            return super().render_line(y)
        row_key = self.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value
        cache_key = (
            row_key,
            self._version_of.get(row_key or ""),
            index,  # the cells carry their row index for the mouse
            self.scroll_offset.x,
            self.size.width,
            self.rich_style,
            self.get_pseudo_class_state(),
        )
        line = self._lines.get(cache_key)
        if line is None:
            if len(self._lines) > 4 * max(self.size.height, 100):
                self._lines.clear()
            line = self._lines[cache_key] = super().render_line(y)
        return line

    def notify_style_update(self) -> None:
        self._lines.clear()  # a new theme or CSS: every line is stale
        super().notify_style_update()


def _cells(alert: Alert, now: datetime, style: str) -> tuple[Text, ...]:
    v = alert.violation
    assert v is not None
    cells = (
        table_age(alert.age(now)),
        alert.drone_id,
        place_of(v),
        v.plate or "-",
        f"{v.confidence:.2f}" if v.confidence is not None else "-",
        alert.holder or "-",
    )
    return tuple(Text(c, style) for c in cells)


def details(
    alert: Alert,
    now: datetime,
    officer_id: str,
    position: LogEntry | None,
    image_saved: bool,
) -> Text:
    """Short lines (the pane is 46 columns at 80x24), cut rather than wrapped."""
    v = alert.violation
    assert v is not None
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"{alert.alert_id[:12]}", "bold")
    t.append(f" · {v.drone_id} · raised {fmt_age(alert.age(now))} ago\n")
    label, style = STATUS_LABEL[alert.status]
    t.append(label, style)
    if alert.holder:
        t.append(f" by {alert.holder}" + (" (you)" if alert.holder == officer_id else ""))
    else:
        t.append(f" waiting {fmt_age(alert.waiting(now))}")
    where = ", ".join(
        x for x in (v.street, v.borough, f"pct {v.precinct}" if v.precinct else None) if x
    )
    coords = f"{v.latitude:.5f},{v.longitude:.5f}" if v.latitude is not None else "-"
    t.append(f"\n{where or 'no address'}\n{coords} ({v.location_precision})\n")
    plate = " ".join(x for x in (v.plate, v.plate_state, v.plate_type) if x) or "plate unread"
    car = " ".join(x for x in (v.vehicle_color, v.vehicle_make, v.vehicle_body_type) if x)
    conf = f"{v.confidence:.2f}" if v.confidence is not None else "-"
    t.append(f"{plate} · {car or 'vehicle ?'} · conf {conf}\n")
    if position is not None and isinstance(position.event, PositionReported):
        p = position.event
        battery = f" · battery {p.battery_pct:.0f}%" if p.battery_pct is not None else ""
        t.append(f"Drone now {p.latitude:.5f},{p.longitude:.5f}\n")
        t.append(f"  reported {fmt_age(now - p.time)} ago{battery}\n", "dim")
    else:
        t.append("Drone now: no position known\n\n", "dim")
    for c in alert.controls[-1:]:
        outcome = (c.detail or "").rsplit(" -> ", 1)[-1]
        t.append(
            f"Control by {c.officer_id}: {'ok' if c.succeeded else 'FAILED'} {outcome}\n",
            "green" if c.succeeded else "bold red",
        )
    t.append("Image: o to open the saved file" if image_saved else "Image: not loaded", "cyan")
    return t
