"""Violation images in the JetStream object store, named ``<tenant>/<image_id>``."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import ObjectMeta
from nats.js.errors import NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from prestacop.domain.subjects import IMAGE_BUCKET, image_name

MAX_IMAGE_BYTES = 8 * 1024 * 1024


class ImageTooLarge(ValueError):
    pass


class ImageStore:
    """Opened on first use: a producer that sends no image needs no rights on the bucket."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._bucket: ObjectStore | None = None

    @classmethod
    async def open(cls, js: JetStreamContext) -> ImageStore:
        return cls(js)

    @property
    async def _store(self) -> ObjectStore:
        if self._bucket is None:
            self._bucket = await self._js.object_store(IMAGE_BUCKET)
        return self._bucket

    async def put(self, tenant: str, image_id: str, data: bytes, content_type: str) -> None:
        if len(data) > MAX_IMAGE_BYTES:
            raise ImageTooLarge(f"image {image_id} is {len(data)} bytes (max {MAX_IMAGE_BYTES})")
        await (await self._store).put(
            image_name(tenant, image_id),
            data,
            meta=ObjectMeta(name=image_name(tenant, image_id), description=content_type),
        )

    async def get(self, tenant: str, image_id: str) -> bytes | None:
        try:
            result = await (await self._store).get(image_name(tenant, image_id))
        except (ObjectNotFoundError, NotFoundError):
            return None
        return result.data

    async def exists(self, tenant: str, image_id: str) -> bool:
        try:
            info = await (await self._store).get_info(image_name(tenant, image_id))
        except (ObjectNotFoundError, NotFoundError):
            return False
        return not info.deleted
