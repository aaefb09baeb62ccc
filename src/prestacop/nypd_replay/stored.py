"""What the log already holds: the summons stored since a stream sequence.

The de-duplication window (minutes) cannot cover a restart hours later, so on
resume, and after an outage, the replay reads the tenant's history subjects from
the checkpoint's floor sequence (headers only) and skips the events found there.
"""

from __future__ import annotations

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import Header

from prestacop.adapters.log_reader import LogReader
from prestacop.domain import subjects


def history_filter(tenant: str) -> str:
    return subjects.history(tenant, "*")


async def last_sequence(js: JetStreamContext) -> int:
    info = await js.stream_info(subjects.HISTORY.name)
    return int(info.state.last_seq)


async def stored_ids(nc: Client, tenant: str, after_seq: int) -> set[str]:
    """Message ids on the tenant's history subjects with a sequence above ``after_seq``."""
    reader = LogReader(
        nc,
        subjects.HISTORY.name,
        after_seq + 1,
        filter_subject=history_filter(tenant),
        headers_only=True,
        name="replay",
    )
    await reader.start()
    found: set[str] = set()
    try:
        while not reader.caught_up:
            for _seq, _subject, _data, _ts, headers in await reader.take(1_000, 1.0):
                msg_id = (headers or {}).get(Header.MSG_ID)
                if msg_id:
                    found.add(msg_id)
    finally:
        await reader.stop()
    return found
