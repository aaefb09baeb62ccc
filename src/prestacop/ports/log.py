"""What services need of the log and the image store, as Protocols.

``adapters/publisher.py`` and ``adapters/images.py`` implement them over JetStream;
``tests/unit/fakes.py`` implements them in memory; one contract test class per
port runs the same assertions against both (``tests/integration/test_port_contracts.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol, runtime_checkable


class Ack(Protocol):
    """Where the log stored a message: its stream, its sequence, whether it was a duplicate."""

    @property
    def stream(self) -> str: ...

    @property
    def seq(self) -> int: ...

    @property
    def duplicate(self) -> bool: ...


@runtime_checkable
class EventPublisher(Protocol):
    """Appends to the log with a bounded window of unacknowledged messages.

    ``msg_id`` de-duplicates within the stream's window; the header
    ``Nats-Expected-Last-Subject-Sequence`` makes a write conditional. A refusal
    fails the ack's future (``PublishRejected``, ``NoStreamError``, ``AckTimeout``).
    """

    async def publish(
        self,
        subject: str,
        payload: bytes,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> asyncio.Future[Ack]: ...

    async def publish_and_wait(
        self,
        subject: str,
        payload: bytes,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Ack: ...

    async def flush(self) -> None: ...

    async def notify(self, subject: str, data: bytes) -> None:
        """A core message, not stored (a drone's feedback): best effort."""
        ...


@runtime_checkable
class ImageStore(Protocol):
    """Violation images by tenant and id: written before the violation that names them."""

    async def put(self, tenant: str, image_id: str, data: bytes, content_type: str) -> None: ...

    async def get(self, tenant: str, image_id: str) -> bytes | None: ...

    async def exists(self, tenant: str, image_id: str) -> bool: ...

    async def digest(self, tenant: str, image_id: str) -> tuple[str, int] | None:
        """SHA-256 (hex) and size of a stored image, None if none is stored."""
        ...


RawMessage = tuple[int, str, bytes, int, dict[str, str] | None]
"""A message as read: stream sequence, subject, bytes, the log's timestamp in ns, and its
headers when the reader was asked for them (else None)."""


@runtime_checkable
class LogReader(Protocol):
    """One stream from a position the caller owns, in order, holding a bounded number."""

    async def take(self, max_n: int, timeout: float) -> list[RawMessage]:
        """Up to ``max_n`` next messages, in order; ``[]`` after ``timeout`` at the head."""
        ...

    async def stop(self) -> None: ...
