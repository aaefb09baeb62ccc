"""A build made when positions were kept per stream only (layout 1) cannot say which force
a position was of: it is filled again beside the live one and swapped in once caught up."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.domain.events import PositionReported
from prestacop.ports.projection import LAYOUT
from prestacop.projections.views.drones import Drones
from tests.conftest import wait_until
from tests.projection_support import (
    FROM_SCRATCH_S,
    caught_up,
    namespace,
    projecting,
    publish_events,
    rows,
)


async def test_a_build_of_the_old_positions_layout_is_filled_again_and_swapped_in(
    log, nats_url, database_url, tenant
) -> None:
    ns = namespace()
    store = ProjectionStore(database_url, ns)
    store.setup()
    old = store.create_build(Drones, "test")
    store.swap(old)
    with psycopg.connect(database_url, autocommit=True) as conn:  # as an older release left it
        conn.execute(f"UPDATE {ns}_meta.builds SET layout = 1 WHERE schema = %s", (old.schema,))
    event = PositionReported(
        message_id=f"{tenant}-p", drone_id="d1", time=datetime.now(UTC), latitude=40.7,
        longitude=-74.0,
    )  # fmt: skip
    acks = await publish_events(log, tenant, [event])
    async with projecting(nats_url, database_url, ns, ["drones"]):

        async def swapped_and_dropped() -> bool:  # the drop follows the swap's commit
            return await caught_up(store, acks, "drones") and len(store.builds("drones")) == 1

        await wait_until(
            swapped_and_dropped, timeout=FROM_SCRATCH_S, what="swapped in and the old one dropped"
        )
    live = store.live("drones")
    assert live is not None and live.schema != old.schema and live.layout == LAYOUT
    assert [b.schema for b in store.builds("drones")] == [live.schema]  # the old one dropped
    got = rows(store, f"SELECT positions FROM {ns}.drones WHERE tenant = %s", tenant)
    store.close()
    assert got == [{"positions": 1}]
