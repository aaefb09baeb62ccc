"""The alert table draws again only the rows that changed, as a plain DataTable draws them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from textual.app import App, ComposeResult
from textual.widgets import DataTable

from prestacop.domain.alerts import Alert
from prestacop.operator_tui.widgets import AlertTable
from tests.factories import T0, violation


def alert(n: int, **fields: object) -> Alert:
    v = violation(f"a{n:02d}", drone_id=f"d{n}", plate=f"P{n}")
    return Alert(alert_id=v.message_id, violation=v, raised_at=T0 + timedelta(seconds=n), **fields)  # type: ignore[arg-type]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield AlertTable(id="alerts")

    def on_mount(self) -> None:
        self.query_one(AlertTable).add_alert_columns()


def lines(table: AlertTable) -> list[object]:
    return [table.render_line(y) for y in range(table.size.height)]


def assert_as_plain(table: AlertTable) -> None:
    """Every kept line is the one Textual's own DataTable draws for the same rows."""
    for y in range(table.size.height):
        assert list(table.render_line(y)) == list(DataTable.render_line(table, y)), f"line {y}"


async def test_a_change_redraws_its_row_only_and_every_line_stays_true() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(AlertTable)
        now = T0 + timedelta(seconds=30)
        active = [alert(n) for n in range(1, 21)]
        selected = table.show(active, now, lambda a: "", None)
        await pilot.pause()
        assert selected == "a01" and table.row_count == 20
        assert_as_plain(table)
        before = lines(table)

        active[3] = replace(active[3], status="claimed", holder="alice")  # line 4 (0: header)
        active.append(alert(30))  # below the screen
        table.show(active, now, lambda a: "yellow" if a.holder else "", selected)
        await pilot.pause()
        after = lines(table)
        changed = [y for y, (b, a) in enumerate(zip(before, after, strict=True)) if b is not a]
        # the header and the cursor's row (line 1) are Textual's own, drawn on each change
        assert changed == [0, 1, 4], "of the rows, only the claimed one is drawn again"
        assert "alice" in after[4].text
        assert_as_plain(table)

        table.show(active, now, lambda a: "yellow" if a.holder else "", selected, ages=True)
        await pilot.pause()
        assert all(b is a for b, a in zip(after, lines(table), strict=True)), "idle tick: no draw"

        late = alert(0)  # raised before the others, arrives last: goes first
        table.show([late, *active[2:]], now, lambda a: "", selected)
        await pilot.pause()
        assert [r.key.value for r in table.ordered_rows][:3] == ["a00", "a03", "a04"]
        assert table.cursor_row == 0 and table.row_count == 20
        assert_as_plain(table)

        shown = lines(table)
        table.show([late, *active[2:]], now + timedelta(seconds=5), lambda a: "", None, ages=True)
        await pilot.pause()
        assert all(b is a for b, a in zip(shown, lines(table), strict=True)), "ages by the minute"

        table.show([late, *active[2:]], now + timedelta(seconds=60), lambda a: "", "a04", ages=True)
        await pilot.pause()
        assert table.cursor_row == 2 and table.render_line(1).text.startswith(" 1m ")
        assert_as_plain(table)
