"""The officers' console and the ``alerts`` view read the same log the same way.

One alert state machine (``domain.alerts.transition``): a claim written after a
decision (another client, a race the log let through) leaves the alert resolved in
the console's board and in the view, with the same holder.
"""

from __future__ import annotations

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.bootstrap import LogClient
from prestacop.domain.alerts import AlertBoard
from tests.conftest import wait_until
from tests.factories import claimed, decided, violation
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
