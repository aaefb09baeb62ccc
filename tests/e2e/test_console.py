"""The officers' console driven with Textual's Pilot against a real nats-server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from prestacop import bootstrap
from prestacop.alerts.control import CommandControl
from prestacop.alerts.threaded import ThreadedAlertLog
from prestacop.bootstrap import LogClient, open_log
from prestacop.domain.events import DroneControlTaken, OperatorDecisionRecorded
from prestacop.drone import DroneClient
from prestacop.operator_tui.app import ConsoleApp
from prestacop.operator_tui.resolve import ResolveScreen
from prestacop.runtime.embedded import EmbeddedRuntime
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(60)


@asynccontextmanager
async def console(
    nats_url: str,
    tenant: str,
    officer: str,
    tmp_path: Path,
    *,
    control_cmd: str = "true",
    size: tuple[int, int] = (100, 30),
    escalate_after: timedelta = timedelta(minutes=2),
) -> AsyncIterator[tuple[ConsoleApp, Pilot[None]]]:
    alert_log = await ThreadedAlertLog(  # as launch.py runs it
        lambda: bootstrap.alert_log(nats_url, tenant, name=f"console-{officer}", setup=False)
    ).start()
    app = ConsoleApp(
        alert_log,
        officer,
        CommandControl(control_cmd),
        escalate_after=escalate_after,
        image_dir=tmp_path / "images",
    )
    try:
        async with app.run_test(size=size) as pilot:
            await wait_until(lambda: app.feed_state == "live", what="console live")
            yield app, pilot
    finally:
        await alert_log.close()


async def raise_alert(
    log: LogClient, tenant: str, drone: str = "drone-7", **details: object
) -> str:
    alert_id = uuid.uuid4().hex
    client = await DroneClient(tenant, drone, log=log).connect()
    await client.report_position(40.7502, -73.9803, battery_pct=54)
    await client.request_review(
        b"\xff\xd8not-really-a-jpeg",
        40.75,
        -73.98,
        message_id=alert_id,
        plate="ABC1234",
        confidence=0.41,
        street="W 42 St",
        borough="Manhattan",
        **details,
    )
    return alert_id


async def claimed_alert(
    app: ConsoleApp, pilot: Pilot[None], log: LogClient, tenant: str, drone: str = "drone-7"
) -> str:
    """Raise an alert and claim it from the console with the key 'c'."""
    alert_id = await raise_alert(log, tenant, drone=drone)
    await wait_until(lambda: app.selected == alert_id, what="selected")
    await pilot.press("c")
    await wait_until(lambda: app.desk.board.get(alert_id).holder == app.officer_id, what="held")
    return alert_id


def text_of(app: ConsoleApp, selector: str) -> str:
    return str(app.query_one(selector, Static).content)


def row_texts(app: ConsoleApp) -> list[str]:
    table = app.query_one("#alerts", DataTable)
    return [" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


async def test_an_alert_appears_live_with_its_drone_plate_and_place(
    log: LogClient, nats_url: str, tenant: str, tmp_path: Path
) -> None:
    async with console(nats_url, tenant, "officer-a", tmp_path) as (app, _pilot):
        assert row_texts(app) == []
        alert_id = await raise_alert(log, tenant)
        await wait_until(lambda: len(row_texts(app)) == 1, what="the alert row")
        row = row_texts(app)[0]
        assert "drone-7" in row and "ABC1234" in row and "W 42 St MAN" in row and "0.41" in row
        assert app.selected == alert_id
        await wait_until(lambda: "Drone now 40.75020" in text_of(app, "#info"), what="position")
        assert "open 1" in text_of(app, "#counts")
        assert (tmp_path / "images").exists()  # the image was fetched and saved to open


async def test_the_drones_position_follows_the_drone_while_the_alert_is_shown(
    log: LogClient, nats_url: str, tenant: str, tmp_path: Path
) -> None:
    async with console(nats_url, tenant, "officer-a", tmp_path) as (app, _pilot):
        await raise_alert(log, tenant)
        await wait_until(lambda: "Drone now 40.75020" in text_of(app, "#info"), what="position")
        drone = await DroneClient(tenant, "drone-7", log=log).connect()
        await drone.report_position(40.7612, -73.9777, battery_pct=53)
        await wait_until(
            lambda: "Drone now 40.76120,-73.97770" in text_of(app, "#info"), what="new position"
        )


async def test_an_officer_claims_the_selected_alert_and_can_release_it(
    log: LogClient, nats_url: str, tenant: str, tmp_path: Path
) -> None:
    async with console(nats_url, tenant, "officer-a", tmp_path) as (app, pilot):
        alert_id = await claimed_alert(app, pilot, log, tenant)
        assert app.desk.board.get(alert_id).status == "claimed"
        await wait_until(lambda: "officer-a" in row_texts(app)[0], what="holder shown")
        assert "claimed 1" in text_of(app, "#counts")
        await pilot.press("u")
        await wait_until(lambda: app.desk.board.get(alert_id).status == "open", what="released")
        await wait_until(lambda: row_texts(app)[0].endswith(" -"), what="nobody holds it")


async def test_a_second_console_claim_is_refused_and_shows_who_holds_it(
    log: LogClient, nats_url: str, tenant: str, tmp_path: Path
) -> None:
    alert_id = await raise_alert(log, tenant)
    async with console(nats_url, tenant, "officer-a", tmp_path) as (a, pilot_a):
        async with console(nats_url, tenant, "officer-b", tmp_path) as (b, pilot_b):
            await wait_until(lambda: a.selected == b.selected == alert_id, what="both see it")
            await pilot_a.press("c")
            await pilot_b.press("c")
            await wait_until(lambda: "held by officer-a" in b.message_text, what="b refused")
            await wait_until(lambda: "officer-a" in row_texts(b)[0], what="holder in b's list")
            assert a.desk.board.get(alert_id).holder == "officer-a"
            assert "done" in a.message_text


async def test_take_control_runs_the_command_with_the_drone_id_and_records_it(
    log: LogClient, nats_url: str, tenant: str, tmp_path: Path
) -> None:
    out = tmp_path / "control.txt"
    cmd = f"sh -c 'printf %s \"$1\" > {out}' control {{drone_id}}"
    async with console(nats_url, tenant, "officer-a", tmp_path, control_cmd=cmd) as (app, pilot):
        alert_id = await raise_alert(log, tenant, drone="drone-42")
        await wait_until(lambda: app.selected == alert_id, what="selected")
        await pilot.press("t")
        await wait_until(lambda: "claim it first" in app.message_text, what="needs a claim")
        assert not out.exists()
        await pilot.press("c")
        await wait_until(lambda: app.desk.board.get(alert_id).holder == "officer-a", what="held")
        await pilot.press("t")
        await wait_until(lambda: app.desk.board.get(alert_id).controls, what="control recorded")
        assert out.read_text() == "drone-42"
        control = app.desk.board.get(alert_id).controls[0]
        assert isinstance(control, DroneControlTaken)
        assert control.succeeded and control.officer_id == "officer-a"


async def test_a_failing_control_command_is_shown_and_recorded_as_failed(
    log: LogClient, nats_url: str, tenant: str, tmp_path: Path
) -> None:
    cmd = "sh -c 'echo no radio link to $1 >&2; exit 3' control {drone_id}"
    async with console(nats_url, tenant, "officer-a", tmp_path, control_cmd=cmd) as (app, pilot):
        alert_id = await claimed_alert(app, pilot, log, tenant, drone="drone-9")
        await pilot.press("t")
        await wait_until(lambda: "exit code 3" in app.message_text, what="failure shown")
        assert "no radio link to drone-9" in app.message_text
        await wait_until(lambda: app.desk.board.get(alert_id).controls, what="control recorded")
        assert not app.desk.board.get(alert_id).controls[0].succeeded


async def test_resolving_with_a_searched_code_publishes_the_decision(
    log: LogClient, nats_url: str, tenant: str, tmp_path: Path
) -> None:
    async with console(nats_url, tenant, "officer-a", tmp_path) as (app, pilot):
        alert_id = await claimed_alert(app, pilot, log, tenant)
        await pilot.press("r")
        await wait_until(lambda: isinstance(app.screen, ResolveScreen), what="the dialog")
        other = await raise_alert(log, tenant, drone="drone-8")  # arrives behind the dialog
        await wait_until(lambda: len(row_texts(app)) == 2, what="the list updated behind it")
        await pilot.press(*"hydrant", "tab", *"on the hydrant", "enter")
        await wait_until(lambda: app.screen.focused and app.screen.focused.id == "codes")
        await pilot.press("enter")
        await wait_until(lambda: app.desk.board.get(alert_id).status == "resolved", what="resolved")
        decision = app.desk.board.get(alert_id).decision
        assert isinstance(decision, OperatorDecisionRecorded)
        assert decision.corrected_code == 40 and decision.note == "on the hydrant"
        await wait_until(lambda: len(row_texts(app)) == 1, what="resolved one gone from the list")
        assert app.desk.board.get(other) is not None and "drone-8" in row_texts(app)[0]
        assert "resolved today 1" in text_of(app, "#counts")


async def test_an_alert_unclaimed_too_long_is_highlighted(
    log: LogClient, nats_url: str, tenant: str, tmp_path: Path
) -> None:
    async with console(nats_url, tenant, "officer-a", tmp_path, escalate_after=timedelta(0)) as (
        app,
        _pilot,
    ):
        await raise_alert(log, tenant)
        await wait_until(lambda: "⚠ 1 waiting" in text_of(app, "#counts"), what="escalation")
        cell = app.query_one("#alerts", DataTable).get_row_at(0)[1]
        assert "red" in str(cell.style)


async def test_the_console_fits_80x24_with_its_keys_in_the_footer(
    log: LogClient, nats_url: str, tenant: str, tmp_path: Path
) -> None:
    async with console(nats_url, tenant, "officer-a", tmp_path, size=(80, 24)) as (app, _pilot):
        await raise_alert(log, tenant)
        await wait_until(lambda: len(row_texts(app)) == 1, what="row")
        keys = ("Claim", "Control", "Resolve", "Release", "Quit", "drone-7", "ABC1234")
        await wait_until(
            lambda: all(k.replace(" ", "&#160;") in app.export_screenshot() for k in keys),
            what="the list and every key on an 80x24 screen",
        )


async def test_the_console_shows_reconnecting_and_loses_nothing_when_nats_restarts(
    tmp_path: Path, tenant: str
) -> None:
    # open (explicitly): a server of its own to restart under the console
    runtime = EmbeddedRuntime(tmp_path / "rt", postgres=False, secure=False)
    with runtime as urls:
        drones = await open_log(urls.nats_url, "drones")
        try:
            async with console(urls.nats_url, tenant, "officer-a", tmp_path) as (app, _):
                first = await raise_alert(drones, tenant)
                await wait_until(lambda: app.desk.board.get(first) is not None, what="first")
                runtime.kill_nats()
                await wait_until(
                    lambda: "reconnecting" in text_of(app, "#topbar"), what="reconnecting shown"
                )
                runtime.restart_nats()
                second = await raise_alert(drones, tenant, drone="drone-8")
                await wait_until(lambda: len(row_texts(app)) == 2, timeout=20, what="second row")
                await wait_until(lambda: "live" in text_of(app, "#topbar"), what="live again")
                assert app.desk.board.get(second) is not None
        finally:
            await drones.close()


async def test_the_officers_decision_reaches_the_violations_view(
    log: LogClient, nats_url: str, database_url: str, tenant: str, tmp_path: Path
) -> None:
    from prestacop.adapters.postgres_projections import ProjectionStore
    from tests.projection_support import namespace, projecting

    ns = namespace()
    store = ProjectionStore(database_url, ns)
    query = (
        f"SELECT drone_code, code, status, decided_by FROM {ns}.violations"
        " WHERE tenant = %s AND violation_id = %s"
    )

    def view_row(alert_id: str) -> dict[str, object] | None:
        try:
            found = store.query(query, (tenant, alert_id))
        except Exception:  # the view's tables are not created yet
            return None
        return found[0] if found else None

    try:
        async with (
            console(nats_url, tenant, "officer-a", tmp_path) as (app, pilot),
            projecting(nats_url, database_url, ns, ["violations"]),
        ):
            alert_id = await raise_alert(log, tenant)
            await wait_until(lambda: app.selected == alert_id, what="selected")
            await pilot.press("c")
            await wait_until(lambda: app.desk.board.get(alert_id).holder == "officer-a")
            await pilot.press("r")
            await wait_until(lambda: isinstance(app.screen, ResolveScreen), what="the dialog")
            await pilot.press(*"21", "enter", "enter")
            await wait_until(
                lambda: (view_row(alert_id) or {}).get("status") == "corrected",
                timeout=30,
                what="the decision in the violations view",
            )
        assert view_row(alert_id) == {
            "drone_code": 0,
            "code": 21,
            "status": "corrected",
            "decided_by": "officer-a",
        }
    finally:
        store.close()
