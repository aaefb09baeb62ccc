"""Reading a stream of the log in order from a given sequence, fast, with back-pressure.

An ordered push consumer (ephemeral, no server-side ack state: the reader's
caller keeps the position, in Postgres) starts at ``start_seq``; nats-py resets
it by itself on gaps. Messages land in a buffer as raw tuples; when the buffer
is full the callback waits, which holds up the subscription and, through
JetStream flow control, the server.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError


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


class StreamReader:
    """The messages of one stream from ``start_seq`` on, in order, as ``RawMessage`` chunks."""

    def __init__(
        self, js: JetStreamContext, stream: str, start_seq: int, *, buffer: int = 20_000
    ) -> None:
        self.stream = stream
        self.start_seq = max(1, start_seq)
        self._js = js
        self._buffer: deque[tuple[int, str, bytes, int]] = deque()
        self._high = buffer
        self._room = asyncio.Event()
        self._room.set()
        self._data = asyncio.Event()
        self._sub: Subscription | None = None
        self.last_seq = self.start_seq - 1
        self._last_msg_at = time.monotonic()
        self.restarts = 0

    async def start(self) -> StreamReader:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.last_seq + 1,
        )
        self._sub = await self._js.subscribe(
            "",
            stream=self.stream,
            ordered_consumer=True,
            config=config,
            cb=self._on_msg,
            pending_msgs_limit=0,  # no client-side drops: JetStream flow control bounds it
            pending_bytes_limit=0,
        )
        return self

    async def _on_msg(self, msg: Msg) -> None:
        tokens = msg.reply.split(".")
        if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>
            seq, ts = int(tokens[5]), int(tokens[7])
        else:  # newer form with domain and account hash
            seq, ts = int(tokens[7]), int(tokens[9])
        if seq <= self.last_seq:  # already had it (before a restart)
            return
        self.last_seq = seq
        self._last_msg_at = time.monotonic()
        self._buffer.append((seq, msg.subject, msg.data, ts))
        self._data.set()
        if len(self._buffer) >= self._high:
            self._room.clear()
            await self._room.wait()

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
        if len(buf) < self._high // 2:
            self._room.set()
        return chunk

    async def nudge(self, head_seq: int, stall_after: float = 3.0) -> bool:
        """Start the consumer again after the last message if it has stalled behind the head.

        A safety net: when the client's pending limits dropped messages (slow consumer), the
        ordered consumer stopped for good behind the head. Returns True when restarted.
        """
        stalled = time.monotonic() - self._last_msg_at > stall_after
        if head_seq <= self.last_seq or self._buffer or not stalled:
            return False
        await self.stop()
        self.restarts += 1
        self._last_msg_at = time.monotonic()
        await self.start()
        return True

    async def stop(self) -> None:
        self._room.set()
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:  # connection already closed: nothing to release
                pass
            self._sub = None
