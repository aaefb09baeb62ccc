"""What the log already holds: the summons stored since a stream sequence.

The de-duplication window (minutes) cannot cover a restart hours later, so on
resume, and after an outage, the replay reads the tenant's history subjects from
the checkpoint's floor sequence (headers only) and skips the events found there.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, Header
from nats.js.errors import FetchTimeoutError

from prestacop.domain import subjects


def history_filter(tenant: str) -> str:
    return subjects.history(tenant, "*")


async def last_sequence(js: JetStreamContext) -> int:
    info = await js.stream_info(subjects.HISTORY.name)
    return int(info.state.last_seq)


async def stored_ids(js: JetStreamContext, tenant: str, after_seq: int) -> set[str]:
    """Message ids on the tenant's history subjects with a sequence above ``after_seq``."""
    psub = await js.pull_subscribe(
        history_filter(tenant),
        stream=subjects.HISTORY.name,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after_seq + 1,
            ack_policy=AckPolicy.NONE,
            headers_only=True,
            inactive_threshold=30.0,
        ),
    )
    found: set[str] = set()
    try:
        remaining = (await psub.consumer_info()).num_pending or 0
        while remaining > 0:
            try:
                msgs = await psub.fetch(min(1000, remaining), timeout=5.0)
            except (TimeoutError, FetchTimeoutError):
                remaining = (await psub.consumer_info()).num_pending or 0
                continue
            for msg in msgs:
                msg_id = (msg.headers or {}).get(Header.MSG_ID)
                if msg_id:
                    found.add(msg_id)
            remaining -= len(msgs)
    finally:
        await psub.unsubscribe()
    return found
