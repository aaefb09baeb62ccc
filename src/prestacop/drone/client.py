"""``DroneClient``: connect, report positions, report violations with their image.

The client refuses to send what the log would set aside (``InvalidMessage``, with
the field and the rule), uploads a violation's image before the violation that
names it, and gives each message a unique id so that a retry is never stored twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from prestacop.domain import subjects
from prestacop.domain.codec import InvalidMessage, encode_checked
from prestacop.domain.events import (
    HUMAN_REVIEW_CODE,
    SCHEMA_VERSION,
    VIOLATION_VERSION,
    AnyEvent,
    PositionReported,
    ViolationReported,
)
from prestacop.domain.subjects import check_tenant, check_token
from prestacop.ports.log import ProducerLog, PubAck, is_transient

__all__ = ["DroneClient", "InvalidMessage"]


def new_id() -> str:
    """128 random bits in hex (like ``uuid4().hex``, a quarter of its cost per message)."""
    return os.urandom(16).hex()


class DroneClient:
    """One drone's link to PrestaCop.

    ``async with bootstrap.drone("nypd", "drone-7", nats_url) as drone: ...``; several
    clients may share one connection by passing ``log=`` (the simulator does).
    """

    def __init__(
        self,
        tenant: str,
        drone_id: str,
        *,
        log: ProducerLog | None = None,
        open_log: Callable[[], Awaitable[ProducerLog]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retry_for: float = 60.0,
    ) -> None:
        if open_log is None and log is None:
            raise ValueError("give a shared log client, or open_log (bootstrap.drone)")
        self.tenant = check_tenant(tenant)
        self.drone_id = check_token(drone_id, "drone id")
        self._open_log = open_log
        self._log = log
        self._owns_log = log is None
        self._clock = clock
        self._retry_for = retry_for

    async def connect(self) -> DroneClient:
        if self._log is None:
            assert self._open_log is not None
            self._log = await self._open_log()
        return self

    async def close(self) -> None:
        if self._owns_log and self._log is not None:
            await self._log.close()
            self._log = None

    async def on_feedback(self, callback: Callable[[dict[str, Any]], None]) -> Any:
        """Hear each verdict on this drone's messages set aside: ``message_id``, ``reason``,
        ``detail``, ``stream``, ``seq`` (while connected; the quarantine stream keeps all)."""
        import msgspec

        def hear(data: bytes) -> None:
            callback(msgspec.json.decode(data))

        return await self.log.listen(subjects.feedback(self.tenant, self.drone_id), hear)

    async def __aenter__(self) -> DroneClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def log(self) -> ProducerLog:
        if self._log is None:
            raise RuntimeError("DroneClient is not connected: use `async with` or connect()")
        return self._log

    async def send(self, event: AnyEvent) -> asyncio.Future[PubAck]:
        """Validate and publish any event; returns the future of its ack (windowed).

        An answer meaning "try again" (no ack in time, 503 during a failover) is
        retried with the same bytes and message id for up to ``retry_for`` seconds.
        """
        subject, data = encode_checked(self.tenant, event, self._clock())
        first = await self.log.publisher.publish(subject, data, msg_id=event.message_id)
        out: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()

        def settled(fut: asyncio.Future[PubAck]) -> None:
            if out.done() or fut.cancelled():
                if not out.done():
                    out.cancel()
                return
            err = fut.exception()
            if err is None:
                out.set_result(fut.result())
            elif not is_transient(err):
                out.set_exception(err)
            else:
                task = asyncio.ensure_future(self._resend(subject, data, event.message_id))
                task.add_done_callback(lambda t: _copy(t, out))

        first.add_done_callback(settled)
        return out

    async def _resend(self, subject: str, data: bytes, msg_id: str) -> PubAck:
        return await self.log.publisher.publish_retrying(
            subject, data, msg_id, retry_for=self._retry_for
        )

    async def report_position(
        self,
        latitude: float,
        longitude: float,
        *,
        altitude_m: float | None = None,
        heading_deg: float | None = None,
        speed_mps: float | None = None,
        battery_pct: float | None = None,
        time: datetime | None = None,
        message_id: str | None = None,
        wait: bool = True,
    ) -> PubAck | asyncio.Future[PubAck]:
        """Send the regular standard message. ``wait=False`` returns the ack's future."""
        event = PositionReported(
            message_id=message_id or new_id(),
            v=SCHEMA_VERSION,
            drone_id=self.drone_id,
            time=time or self._clock(),
            latitude=latitude,
            longitude=longitude,
            altitude_m=altitude_m,
            heading_deg=heading_deg,
            speed_mps=speed_mps,
            battery_pct=battery_pct,
        )
        fut = await self.send(event)
        return await fut if wait else fut

    async def report_violation(
        self,
        violation_code: int,
        image: bytes,
        latitude: float,
        longitude: float,
        *,
        image_content_type: str = "image/jpeg",
        time: datetime | None = None,
        message_id: str | None = None,
        image_id: str | None = None,
        **details: Any,
    ) -> PubAck:
        """Upload the image, then send the violation that names it.

        ``violation_code`` 0 (``HUMAN_REVIEW_CODE``) asks an officer to qualify it;
        ``details`` are the optional fields of ``ViolationReported`` (plate,
        plate_state, confidence, vehicle_make, vehicle_color, street, ...).
        """
        event = ViolationReported(
            message_id=message_id or new_id(),
            v=VIOLATION_VERSION,
            drone_id=self.drone_id,
            time=time or self._clock(),
            latitude=latitude,
            longitude=longitude,
            violation_code=violation_code,
            image_id=image_id or new_id(),
            image_sha256=hashlib.sha256(image).hexdigest(),
            image_size=len(image),
            **details,
        )
        subject, data = encode_checked(self.tenant, event, self._clock())
        assert event.image_id is not None
        await self.log.images.put(self.tenant, event.image_id, image, image_content_type)
        return await self._resend(subject, data, event.message_id)

    async def request_review(
        self, image: bytes, latitude: float, longitude: float, **details: Any
    ) -> PubAck:
        """A violation the drone cannot qualify: an officer gets it as an alert."""
        return await self.report_violation(HUMAN_REVIEW_CODE, image, latitude, longitude, **details)


def _copy(task: asyncio.Task[PubAck], out: asyncio.Future[PubAck]) -> None:
    if out.done():
        return
    if task.cancelled():
        out.cancel()
    elif (err := task.exception()) is not None:
        out.set_exception(err)
    else:
        out.set_result(task.result())
