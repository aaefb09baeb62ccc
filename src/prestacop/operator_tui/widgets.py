"""The console's widgets and what they print: the alert table and the detail text.

Each redraw changes only what changed (every update costs a render, and a long
render holds up the alert feed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from rich.text import Text
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


def place_of(v: ViolationReported) -> str:
    where = v.street or (
        f"{v.latitude:.4f},{v.longitude:.4f}" if v.latitude is not None else "unknown place"
    )
    borough = (v.borough or "")[:3].upper()
    return f"{where} {borough}".strip()


class AlertTable(DataTable[Text]):
    """The active alerts, longest waiting first, one row per alert keyed by its id."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._signature_of: dict[str, object] = {}

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
        shown = [key.value for key in self.rows if key.value is not None]
        kept = [k for k in shown if k in wanted]
        order = [a.alert_id for a in active]
        if kept != order[: len(kept)]:  # the order changed (a release): draw afresh
            self.clear()
            self._signature_of = {}
            kept = []
        for key in shown:
            if key not in wanted and key in self.rows:
                self.remove_row(key)
                self._signature_of.pop(key, None)
        top = self.scroll_offset.y
        visible = range(top, top + self.size.height + 1)
        for index, a in enumerate(active):
            style = wanted[a.alert_id][2]
            if a.alert_id not in self.rows:
                self.add_row(*_cells(a, now, style), key=a.alert_id)
            elif self._signature_of.get(a.alert_id) != wanted[a.alert_id]:
                for (column, _, _), cell in zip(COLUMNS, _cells(a, now, style), strict=True):
                    self.update_cell(a.alert_id, column, cell)
            elif ages and index in visible:  # only its age ticks (each change costs a render)
                self.update_cell(a.alert_id, "age", Text(fmt_age(a.age(now)), style))
            self._signature_of[a.alert_id] = wanted[a.alert_id]
        if not active:
            return None
        if selected in wanted:
            row = self.get_row_index(selected)
            if self.cursor_row != row:
                self.move_cursor(row=row, animate=False)
            return selected
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value


def _cells(alert: Alert, now: datetime, style: str) -> tuple[Text, ...]:
    v = alert.violation
    assert v is not None
    cells = (
        fmt_age(alert.age(now)),
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
