"""Small records kept in the log itself: a JetStream key-value bucket, one value per key."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from prestacop.domain import subjects


class JetStreamBucket:
    """``RecordBucket`` over a key-value bucket (history 1: the latest value only)."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext, name: str, description: str) -> JetStreamBucket:
        try:
            kv = await js.key_value(name)
        except (BucketNotFoundError, NotFoundError):
            kv = await js.create_key_value(
                KeyValueConfig(
                    bucket=name, description=description, history=1, storage=StorageType.FILE
                )
            )
        return cls(kv)

    async def get(self, key: str) -> bytes | None:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        return entry.value or b""

    async def put(self, key: str, data: bytes) -> None:
        await self._kv.put(key, data)


async def log_identity(js: JetStreamContext) -> str:
    """Which log this is: the history stream's creation time and its server or cluster."""
    info = await js.stream_info(subjects.HISTORY.name)
    where = (info.cluster.name or info.cluster.leader) if info.cluster else None
    created = info.created.isoformat() if info.created else "?"
    return f"{created}@{where or '?'}"
