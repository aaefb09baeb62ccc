"""Fast, honest JetStream publishing: core publish + a reply inbox + our own ack accounting.

nats-py's ``publish_async`` is slower and never reports a server error (its
future never resolves, the window slot stays taken). Here each message is
published with a reply subject on one wildcard inbox; the stream's ack (or
error) resolves that message's future; a bounded window caps what is in flight;
acks that never come time out, so a caller can resend (de-duplicated by
``Nats-Msg-Id``) instead of hanging.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import Header

from prestacop.ports.log import (
    WRONG_LAST_SEQUENCE,
    AckTimeout,
    NoStreamError,
    PubAck,
    PublishError,
    PublishRejected,
    is_transient,
)

__all__ = [
    "WRONG_LAST_SEQUENCE",
    "AckTimeout",
    "NoStreamError",
    "PubAck",
    "PublishError",
    "PublishRejected",
    "Publisher",
    "is_transient",
]


class _ApiError(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _AckOrError(msgspec.Struct):
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: _ApiError | None = None


_ack_decoder = msgspec.json.Decoder(_AckOrError)


class _Window:
    """A counting semaphore whose release hands the slot to one waiter in O(1).

    ``asyncio.Semaphore`` (3.11) scans all its waiters on every release: with
    many producers waiting on a full window that cost more than the publish.
    """

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot came with the cancellation: pass it on
            raise

    def release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1


class Publisher:
    """Publishes to JetStream with a bounded window of unacknowledged messages."""

    async def notify(self, subject: str, data: bytes) -> None:
        """A core NATS message, not stored (e.g. a drone's feedback): best effort."""
        await self._nc.publish(subject, data)

    def __init__(self, nc: Client, *, window: int = 1024, ack_timeout: float = 10.0) -> None:
        self._nc = nc
        self._window = _Window(window)
        self._window_size = window
        self._ack_timeout = ack_timeout
        self._pending: dict[str, tuple[asyncio.Future[PubAck], float]] = {}
        self._prefix = ""
        self._next = 0
        self._sub: Subscription | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> Publisher:
        self._prefix = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(self._prefix + ".*", cb=self._on_reply)
        self._sweeper = asyncio.create_task(self._sweep())
        return self

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._sub is not None and not self._nc.is_closed:
            await self._sub.unsubscribe()
        for fut, _ in self._pending.values():
            if not fut.done():
                fut.set_exception(PublishError("publisher closed before the ack"))
        self._pending.clear()

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def publish(
        self,
        subject: str,
        payload: bytes,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> asyncio.Future[PubAck]:
        """Send one message; returns the future of its ack once the window has room."""
        reply, fut = await self.reserve()
        hdrs = dict(headers) if headers else {}
        if msg_id is not None:
            hdrs[Header.MSG_ID] = msg_id
        try:
            await self._nc.publish(subject, payload, reply=reply, headers=hdrs or None)
        except Exception as err:
            self._settle(reply, err)
        return fut

    async def reserve(self) -> tuple[str, asyncio.Future[PubAck]]:
        """A slot of the window: the reply subject to publish with, and the future its ack settles.

        For a caller that publishes the message itself, e.g. several messages
        under one ack (an atomic batch: only its commit carries the reply).
        """
        await self._window.acquire()
        self._next += 1
        reply = f"{self._prefix}.{self._next}"
        fut: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()
        self._pending[reply] = (fut, time.monotonic() + self._ack_timeout)
        return reply, fut

    def fail(self, reply: str, err: BaseException) -> None:
        """Settle a reserved slot whose message could not be sent."""
        self._settle(reply, err)

    async def publish_and_wait(
        self,
        subject: str,
        payload: bytes,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PubAck:
        return await (await self.publish(subject, payload, msg_id, headers))

    async def publish_retrying(
        self,
        subject: str,
        payload: bytes,
        msg_id: str,
        *,
        retry_for: float = 60.0,
        headers: Mapping[str, str] | None = None,
    ) -> PubAck:
        """Publish and wait, resending the same bytes under the same ``msg_id`` while the
        answer means "try again" (``is_transient``), for up to ``retry_for`` seconds."""
        deadline = time.monotonic() + retry_for
        delay = 0.05
        while True:
            try:
                return await self.publish_and_wait(subject, payload, msg_id, headers)
            except PublishError as err:
                if not is_transient(err) or time.monotonic() + delay > deadline:
                    raise
            await asyncio.sleep(delay)  # a back-off between attempts, not synchronisation
            delay = min(delay * 2, 2.0)

    async def flush(self) -> None:
        """Wait until every message sent so far is acknowledged (or failed)."""
        waiting = [fut for fut, _ in self._pending.values()]
        if waiting:
            await asyncio.gather(*waiting, return_exceptions=True)

    def _settle(self, reply: str, outcome: PubAck | BaseException) -> None:
        entry = self._pending.pop(reply, None)
        if entry is None:
            return
        self._window.release()
        fut = entry[0]
        if fut.done():
            return
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)

    async def _on_reply(self, msg: Msg) -> None:
        if msg.headers and msg.headers.get("Status") == "503":
            self._settle(msg.subject, NoStreamError(f"no stream for this subject ({msg.subject})"))
            return
        try:
            reply = _ack_decoder.decode(msg.data)
        except msgspec.DecodeError as err:
            self._settle(msg.subject, PublishError(f"unreadable ack: {err}"))
            return
        if reply.error is not None:
            e = reply.error
            self._settle(msg.subject, PublishRejected(e.code, e.err_code, e.description))
        else:
            self._settle(msg.subject, PubAck(reply.stream, reply.seq, reply.duplicate))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self._ack_timeout / 4))
            now = time.monotonic()
            late = [r for r, (_, deadline) in self._pending.items() if deadline < now]
            for reply in late:
                self._settle(reply, AckTimeout(f"no ack within {self._ack_timeout}s"))
