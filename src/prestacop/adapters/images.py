"""Violation images: write-once messages of the image stream, one subject per image.

``prestacop.<tenant>.image.<image_id>`` holds at most one message, ever: the stream keeps
one message per subject and refuses a second (``discard_new_per_subject``), refuses
delete, purge and rollup, and caps a message at 8 MiB (plus room for headers). So once
stored, an image can be neither replaced, deleted, rolled up nor hidden, by any role:
the server enforces it, not our code. A retried upload of the same image is a
de-duplicated success (``Nats-Msg-Id``), not an error.
"""

from __future__ import annotations

import hashlib

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from prestacop.domain.subjects import IMAGES, image
from prestacop.ports.log import HEADER_ROOM, MAX_IMAGE_BYTES


class ImageTooLarge(ValueError):
    pass


class ImageExists(ValueError):
    """Another image is already stored under that id: images are never replaced."""


class ImageStore:
    """Reads by direct get: a reader needs no consumer, and no right beyond reading."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    @classmethod
    async def open(cls, js: JetStreamContext) -> ImageStore:
        return cls(js)

    async def put(self, tenant: str, image_id: str, data: bytes, content_type: str) -> None:
        if len(data) > MAX_IMAGE_BYTES:
            raise ImageTooLarge(f"image {image_id} is {len(data)} bytes (max {MAX_IMAGE_BYTES})")
        subject = image(tenant, image_id)
        # the id names the bytes: a retry is a duplicate, other bytes under that id a refusal
        msg_id = f"image:{image_id}:{hashlib.sha256(data).hexdigest()[:32]}"
        try:
            await self._js.publish(
                subject,
                data,
                stream=IMAGES.name,
                headers={"Content-Type": content_type, "Nats-Msg-Id": msg_id},
            )
        except APIError as err:
            try:
                if await self.get(tenant, image_id) == data:  # our own upload, out of the window
                    return
            except (NatsError, APIError):
                pass  # a drone may not read images back
            raise ImageExists(f"image {image_id} of {tenant}: {err.description}") from None

    async def get(self, tenant: str, image_id: str) -> bytes | None:
        try:
            msg = await self._js.get_msg(IMAGES.name, subject=image(tenant, image_id), direct=True)
        except NotFoundError:
            return None
        return msg.data

    async def exists(self, tenant: str, image_id: str) -> bool:
        return await self.get(tenant, image_id) is not None

    async def digest(self, tenant: str, image_id: str) -> tuple[str, int] | None:
        """SHA-256 (hex) and size of a stored image: what a protocol-v2 violation names."""
        data = await self.get(tenant, image_id)
        return None if data is None else (hashlib.sha256(data).hexdigest(), len(data))


__all__ = [
    "HEADER_ROOM",
    "MAX_IMAGE_BYTES",
    "ImageExists",
    "ImageStore",
    "ImageTooLarge",
    "NatsError",
]
