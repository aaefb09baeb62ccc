"""What the log already holds: the summons stored since a stream sequence.

The de-duplication window (minutes) cannot cover a restart hours later, so on
resume, and after an outage, the replay reads the tenant's history subjects from
the checkpoint's floor sequence (headers only) and skips the events found there.
"""

from __future__ import annotations

from prestacop.domain import subjects
from prestacop.ports.log import LogSource

MSG_ID = "Nats-Msg-Id"


def history_filter(tenant: str) -> str:
    return subjects.history(tenant, "*")


async def last_sequence(log: LogSource) -> int:
    return (await log.head(subjects.HISTORY.name)).last_seq


async def stored_ids(log: LogSource, tenant: str, after_seq: int) -> set[str]:
    """Message ids on the tenant's history subjects with a sequence above ``after_seq``."""
    reader = await log.reader(
        subjects.HISTORY.name,
        after_seq + 1,
        filter_subject=history_filter(tenant),
        headers_only=True,
        name="replay",
    )
    found: set[str] = set()
    try:
        while not reader.caught_up:
            for _seq, _subject, _data, _ts, headers in await reader.take(1_000, 1.0):
                msg_id = (headers or {}).get(MSG_ID)
                if msg_id:
                    found.add(msg_id)
    finally:
        await reader.stop()
    return found
