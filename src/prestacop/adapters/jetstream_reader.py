"""Reading a stream of the log in order from a given sequence, fast, in bounded memory.

A pull consumer (ephemeral, no acks: the caller keeps the position, in Postgres)
starts at ``start_seq``. The reader sends the pull requests itself
(``$JS.API.CONSUMER.MSG.NEXT``) to a reply inbox, and only while the messages
buffered plus those requested fit in ``buffer``: the server never sends more than
asked, so memory stays bounded however long the log is, and nothing is dropped.

The consumer's delivery sequence must rise by one each message; any gap, a lost
request (silence past its expiry), or a status other than an expiry makes the
reader create a new consumer just after the last message it kept (as nats-py's
ordered consumer does), so no message is ever skipped.

Speed: nats-py turns every message into a ``Msg`` (parsing its headers: each of
ours has a ``Nats-Msg-Id``), queues it and wakes a task for it; that was most of
the reading cost. The reader's inbox messages are taken straight from the
protocol parser instead (``_RawRoutes``), raw, in the parser's order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

EXPIRES = 10.0
"""Seconds a pull request waits at the head of the log before the server ends it."""


@dataclass(frozen=True)
class StreamHead:
    name: str
    last_seq: int
    last_time: datetime | None


async def stream_head(js: JetStreamContext, name: str) -> StreamHead:
    """The log's head of one stream (zero when the stream does not exist yet)."""
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        return StreamHead(name, 0, None)
    state = info.state
    last_ts = getattr(state, "last_ts", None)
    last_time = None
    if isinstance(last_ts, str) and not last_ts.startswith("0001"):
        last_time = datetime.fromisoformat(last_ts.replace("Z", "+00:00")[:26] + "+00:00")
    return StreamHead(name, state.last_seq, last_time)


class _RawRoutes:
    """Messages of chosen subscriptions handed raw from nats-py's parser to a function.

    Wraps the client's ``_process_msg`` (nats-py internals, pinned ``<3``); other
    subscriptions go through it unchanged."""

    def __init__(self, nc: NATS) -> None:
        self.handlers: dict[int, Callable[[bytes, bytes, bytes, bytes | None], None]] = {}
        self._process = nc._process_msg
        nc._process_msg = self._route  # type: ignore[method-assign]

    @classmethod
    def of(cls, nc: NATS) -> _RawRoutes | None:
        routes = getattr(nc, "_prestacop_raw_routes", None)
        if routes is None and hasattr(nc, "_process_msg"):
            routes = cls(nc)
            nc._prestacop_raw_routes = routes  # type: ignore[attr-defined]
        return routes

    async def _route(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        handler = self.handlers.get(sid)
        if handler is None:
            await self._process(sid, subject, reply, data, headers)
        else:
            handler(subject, reply, data, headers)


class StreamReader:
    """The messages of one stream from ``start_seq`` on, in order, as ``RawMessage`` chunks.

    At most ``buffer`` messages are held or requested at any time; ``batch`` is the
    size of one pull request."""

    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        start_seq: int,
        *,
        buffer: int = 8_000,
        batch: int = 1_000,
    ) -> None:
        self.stream = stream
        self.start_seq = max(1, start_seq)
        self._js = js
        self._nc = js._nc
        self._buffer: deque[tuple[int, str, bytes, int]] = deque()
        self._high = buffer
        self._batch = min(batch, buffer)
        self._data = asyncio.Event()
        self._wake = asyncio.Event()
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._consumer = ""
        self._inbox = ""
        self._generation = 0
        self._dseq = 0
        self._outstanding = 0
        self._reset: str | None = None
        self._closed = False
        self.last_seq = self.start_seq - 1
        self._last_heard = time.monotonic()
        self.restarts = 0

    async def start(self) -> StreamReader:
        await self._create()
        self._task = asyncio.create_task(self._requests())
        return self

    async def _create(self) -> None:
        """A fresh consumer from just after the last message kept, and a fresh inbox."""
        self._generation += 1
        old_consumer = self._consumer
        await self._unsubscribe()
        if old_consumer:
            with contextlib.suppress(Exception):
                await self._js.delete_consumer(self.stream, old_consumer)
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.last_seq + 1,
            ack_policy=AckPolicy.NONE,
            max_waiting=512,
            inactive_threshold=120.0,
            mem_storage=True,
        )
        info = await self._js.add_consumer(self.stream, config)
        self._consumer = info.name
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_msg)
        routes = _RawRoutes.of(self._nc)
        if routes is not None:
            routes.handlers[self._sub._id] = self._on_raw
        self._dseq = 0
        self._outstanding = 0
        self._reset = None
        self._last_heard = time.monotonic()

    async def _requests(self) -> None:
        """Ask for more whenever the buffer has room; start over when the consumer broke."""
        nc, n = self._nc, 0
        while not self._closed:
            if self._reset is not None:
                log.warning(
                    "%s: new consumer after %d (%s)", self.stream, self.last_seq, self._reset
                )
                self.restarts += 1
                try:
                    await self._create()
                except Exception as err:  # NATS away or busy: try again shortly
                    log.warning("%s: cannot create a consumer yet: %r", self.stream, err)
                    await asyncio.sleep(1.0)
                    continue
            room = self._high - len(self._buffer) - self._outstanding
            if room >= self._batch:
                n += 1
                subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self._consumer}"
                body = json.dumps({"batch": self._batch, "expires": int(EXPIRES * 1e9)})
                self._outstanding += self._batch
                await nc.publish(subject, body.encode(), reply=f"{self._inbox}.{n}")
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
            silent = time.monotonic() - self._last_heard
            if self._outstanding and silent > EXPIRES + 5.0 and self._reset is None:
                self._reset = f"no answer to pull requests for {silent:.0f}s"

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            routes = _RawRoutes.of(self._nc)
            if routes is not None:
                routes.handlers.pop(sub._id, None)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _on_msg(self, msg: Msg) -> None:
        """The same as ``_on_raw``, for a client without the raw route."""
        if not msg.reply:  # a status for one of our requests
            self._last_heard = time.monotonic()
            headers = msg.headers or {}
            self._on_status(msg.subject, headers.get("Status"), headers)
            return
        self._on_data(msg.subject, msg.reply, msg.data)

    def _on_raw(self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        if reply:
            self._on_data(subject.decode(), reply.decode(), data)
            return
        self._last_heard = time.monotonic()
        status, fields = _status(headers or b"")
        self._on_status(subject.decode(), status, fields)

    def _on_data(self, subject: str, reply: str, data: bytes) -> None:
        self._last_heard = time.monotonic()
        tokens = reply.split(".")
        if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>
            consumer, seq, dseq, ts = tokens[3], int(tokens[5]), int(tokens[6]), int(tokens[7])
        else:  # newer form with domain and account hash
            consumer, seq, dseq, ts = tokens[5], int(tokens[7]), int(tokens[8]), int(tokens[9])
        if consumer != self._consumer:  # from a consumer replaced since
            return
        self._outstanding -= 1
        if dseq != self._dseq + 1:
            self._broken(f"delivery {dseq} after {self._dseq}")
            return
        self._dseq = dseq
        if seq <= self.last_seq:  # already had it (before a new consumer)
            return
        self.last_seq = seq
        self._buffer.append((seq, subject, data, ts))
        self._data.set()

    def _on_status(self, subject: str, status: str | None, headers: dict[str, str]) -> None:
        if not subject.startswith(self._inbox + "."):  # for a replaced inbox
            return
        left = headers.get("Nats-Pending-Messages")
        if status == "408" and left is not None:  # request expired: what it still had open
            self._outstanding -= int(left)
            self._wake.set()
        elif status != "100":
            self._broken(f"status {status} {headers.get('Description', '')}".strip())

    def _broken(self, why: str) -> None:
        if self._reset is None:
            self._reset = why
        self._wake.set()

    async def take(self, max_n: int, timeout: float) -> list[tuple[int, str, bytes, int]]:
        """Up to ``max_n`` messages; waits up to ``timeout`` when there are none."""
        if not self._buffer:
            self._data.clear()
            try:
                await asyncio.wait_for(self._data.wait(), timeout)
            except TimeoutError:
                return []
        buf = self._buffer
        n = min(max_n, len(buf))
        chunk = [buf.popleft() for _ in range(n)]
        self._wake.set()
        return chunk

    async def nudge(self, head_seq: int) -> bool:
        """Kept for the runner's monitor: the reader now heals itself (see ``_requests``)."""
        if self._task is not None and self._task.done() and not self._task.cancelled():
            raise self._task.exception() or RuntimeError(f"{self.stream}: reader stopped")
        return False

    async def stop(self) -> None:
        self._closed = True  # (a cancel can be lost inside ``wait_for`` on Python 3.11)
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        await self._unsubscribe()
        if self._consumer:
            with contextlib.suppress(Exception):
                await self._js.delete_consumer(self.stream, self._consumer)
            self._consumer = ""


def _status(headers: bytes) -> tuple[str | None, dict[str, str]]:
    """The status code and header fields of a status message (``NATS/1.0 408 ...``)."""
    lines = headers.decode("utf-8", "replace").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = parts[1] if len(parts) > 1 else None
    fields = {"Description": parts[2] if len(parts) > 2 else ""}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return status, fields
