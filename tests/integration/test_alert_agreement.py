"""The officers' console and the ``alerts`` view read the same log the same way.

One alert state machine (``domain.alerts.transition``): a claim written after a
decision (another client, a race the log let through) leaves the alert resolved in
the console's board and in the view, with the same holder.
"""

from __future__ import annotations

from prestacop import bootstrap
from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.adapters.publisher import PubAck
from prestacop.alerts.desk import AlertDesk
from prestacop.bootstrap import LogClient
from prestacop.domain import subjects
from prestacop.domain.alerts import AlertBoard
from tests.conftest import wait_until
from tests.factories import claimed, decided, violation
from tests.integration.test_views_agree import judge_with_the_gate
from tests.projection_support import caught_up, namespace, projecting, publish_events, rows


async def test_a_claim_after_a_decision_leaves_it_resolved_in_console_and_view(
    log: LogClient, nats_url: str, database_url: str, tenant: str
) -> None:
    alert = f"{tenant}-a"
    events = [
        violation(alert, 0),
        claimed("alice", alert, message_id=f"{tenant}-c1"),
        decided("alice", alert, 21, message_id=f"{tenant}-d1"),
        claimed("bob", alert, message_id=f"{tenant}-c2"),  # read after the decision
    ]
    acks = await publish_events(log, tenant, events)
    board = AlertBoard()
    for event, ack in zip(events, acks, strict=True):  # as the console folds its feed
        board.apply(event, seq=ack.seq, received_at=event.time)
    console = board.get(alert)
    ns = namespace()
    store = ProjectionStore(database_url, ns)
    try:
        async with projecting(nats_url, database_url, ns, ["alerts"]):
            await wait_until(lambda: caught_up(store, acks, "alerts"), timeout=30, what="alerts")
        [row] = rows(store, f"SELECT * FROM {ns}.alerts WHERE tenant = %s", tenant)
    finally:
        store.close()
    assert console is not None and (console.status, console.holder) == ("resolved", "alice")
    assert (row["status"], row["claimed_by"], row["decided_by"]) == ("resolved", "alice", "alice")
    assert row["steps"] == 3


async def test_a_review_whose_image_never_came_is_no_alert_in_console_nor_view(
    log: LogClient, nats_url: str, database_url: str, tenant: str
) -> None:
    """The gate sets aside a review without its image (after the console showed it, and
    after an officer claimed one): the console's board and the ``alerts`` view drop it;
    what the officer did stays, in both."""
    kept, lost, claimed_lost = f"{tenant}-ok", f"{tenant}-lost", f"{tenant}-held"
    await log.images.put(tenant, f"img-{kept}", b"jpeg", "image/jpeg")
    events = [
        violation(kept, 0),
        violation(lost, 0),
        violation(claimed_lost, 0),
        claimed("alice", claimed_lost, message_id=f"{tenant}-c1"),
    ]
    acks = await publish_events(log, tenant, events)
    feed = await bootstrap.alert_log(nats_url, tenant, name=f"agreement-{tenant}")
    desk = AlertDesk(feed, "bob", control=None)  # type: ignore[arg-type]
    ns = namespace()
    store = ProjectionStore(database_url, ns)
    try:
        await feed.follow(desk.apply, lambda state: None)

        def on_board() -> set[str]:
            return {a.alert_id for a in desk.board.active()}

        await wait_until(lambda: on_board() == {kept, lost, claimed_lost}, what="3 alerts shown")
        async with projecting(nats_url, database_url, ns, ["alerts"]):
            await wait_until(lambda: caught_up(store, acks, "alerts"), timeout=30, what="alerts")
            await judge_with_the_gate(log, tenant)
            await wait_until(lambda: on_board() == {kept}, timeout=20, what="set aside on board")
            head = (await log.js.stream_info(subjects.QUARANTINE.name)).state.last_seq
            verdicts = [*acks, PubAck(subjects.QUARANTINE.name, head)]
            await wait_until(lambda: caught_up(store, verdicts, "alerts"), timeout=30, what="view")
        got = rows(
            store,
            f"SELECT alert_id, is_review, status, claimed_by FROM {ns}.alerts"
            " WHERE tenant = %s ORDER BY alert_id",
            tenant,
        )
    finally:
        store.close()
        await feed.close()
    assert got == [
        {"alert_id": claimed_lost, "is_review": False, "status": "claimed", "claimed_by": "alice"},
        {"alert_id": kept, "is_review": True, "status": "open", "claimed_by": None},
    ]
    held = desk.board.get(claimed_lost)
    assert desk.board.get(lost) is None
    assert held is not None and held.violation is None and held.holder == "alice"
