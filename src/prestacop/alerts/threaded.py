"""An ``AlertLog`` on a thread and event loop of its own: alerts never wait for the screen.

A Textual frame takes 10-40 ms of the UI loop; a feed sharing that loop would
hold an alert for as long. On its own thread the feed reads and hands over each
alert within a GIL switch (5 ms), and the app gets it as a (thread-safe) message.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from prestacop.alerts.ports import AlertLog, FeedItem, FeedState, LogEntry
from prestacop.domain.events import AlertEvent

T = TypeVar("T")


class ThreadedAlertLog:
    """Runs the ``AlertLog`` that ``opener`` opens on a dedicated thread; same interface."""

    def __init__(self, opener: Callable[[], Awaitable[AlertLog]], name: str = "alert-feed"):
        self._opener = opener
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._inner: AlertLog | None = None

    async def start(self, timeout: float | None = None) -> ThreadedAlertLog:
        """Open the inner log on the thread; ``TimeoutError`` if that takes over ``timeout`` s."""
        self._thread.start()

        async def open_inner() -> AlertLog:
            return await asyncio.wait_for(self._opener(), timeout)

        try:
            self._inner = await self._call(open_inner())
        except BaseException:
            await self._stop_thread()
            raise
        return self

    @property
    def inner(self) -> AlertLog:
        if self._inner is None:
            raise RuntimeError("ThreadedAlertLog not started")
        return self._inner

    @property
    def tenant(self) -> str:
        return self.inner.tenant

    async def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def follow(
        self, on_item: Callable[[FeedItem], None], on_state: Callable[[FeedState], None]
    ) -> None:
        """``on_item``/``on_state`` are called on the feed's thread: they must be thread-safe."""
        await self._call(self.inner.follow(on_item, on_state))

    async def append(self, event: AlertEvent, *, expected_last_seq: int) -> int:
        return await self._call(self.inner.append(event, expected_last_seq=expected_last_seq))

    async def last_on_alert(self, alert_id: str) -> LogEntry | None:
        return await self._call(self.inner.last_on_alert(alert_id))

    async def last_position(self, drone_id: str) -> LogEntry | None:
        return await self._call(self.inner.last_position(drone_id))

    async def image(self, image_id: str) -> bytes | None:
        return await self._call(self.inner.image(image_id))

    async def close(self) -> None:
        if self._inner is not None:
            await self._call(self._inner.close())
        await self._stop_thread()

    async def _stop_thread(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join, 10)
        self._loop.close()
