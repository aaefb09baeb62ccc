"""What a projection is: the small class an analyst writes to get a view of the log.

A projection names its tables (created in a schema of their own per build) and
applies *batches* of events with a database cursor. The runner commits the
rows it writes together with the log positions of the batch, in one
transaction: each event counts exactly once, whatever crashes happen.

Rules that keep a view equal to a rebuild from scratch, row for row:
- derive rows only from the envelopes (never from ``now()`` or another view);
- write with upserts or COPY; unqualified table names resolve to this build.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar, overload

import msgspec

from prestacop.domain.subjects import ALERTS, DRONES, HISTORY

E = TypeVar("E")
E2 = TypeVar("E2")
E3 = TypeVar("E3")

#: The streams of the log proper (the quarantine stream is read by ``rejected`` only).
LOG_STREAMS: tuple[str, ...] = (DRONES.name, ALERTS.name, HISTORY.name)

LAYOUT = 2
"""How a build keeps its positions: 2, per force and stream (``position_key``); 1, per
stream only (one account for every force). A build of another layout is filled again."""


def position_key(force: str, stream: str) -> str:
    """Where a build's position in one stream of one force's account is kept: every force's
    account has streams of the same names. ``force`` empty: the one account read (an open
    server, or someone else's credentials), keyed by the stream alone."""
    return f"{force}/{stream}" if force else stream


def split_key(key: str) -> tuple[str, str]:
    """``(force, stream)`` of a ``position_key`` (force empty for the one account)."""
    force, _, stream = key.rpartition("/")
    return force, stream


class Envelope(msgspec.Struct, frozen=True, gc=False):
    """An event with where it sits in the log: the only input a projection gets."""

    stream: str
    seq: int
    subject: str
    tenant: str
    received_at: datetime
    """The JetStream timestamp of the message (not the time of projecting)."""
    event: Any
    """A current-version event (``AnyEvent``), or a decoded record for non-event streams."""


class Batch(Sequence[Envelope]):
    """The envelopes of one transaction, in log order within each stream."""

    __slots__ = ("_items",)

    def __init__(self, items: Sequence[Envelope]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> Envelope: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Envelope]: ...

    def __getitem__(self, i: int | slice) -> Envelope | Sequence[Envelope]:
        return self._items[i]

    def __iter__(self) -> Iterator[Envelope]:
        return iter(self._items)

    @overload
    def of(self, t1: type[E], /) -> Iterator[tuple[Envelope, E]]: ...

    @overload
    def of(self, t1: type[E], t2: type[E2], /) -> Iterator[tuple[Envelope, E | E2]]: ...

    @overload
    def of(
        self, t1: type[E], t2: type[E2], t3: type[E3], /
    ) -> Iterator[tuple[Envelope, E | E2 | E3]]: ...

    @overload
    def of(self, *types: type[E]) -> Iterator[tuple[Envelope, E]]: ...

    def of(self, *types: type[Any]) -> Iterator[tuple[Envelope, Any]]:
        """``(envelope, event)`` for the events of the given types, in order (typed as the
        union of those types, so ``isinstance`` narrows each one)."""
        for env in self._items:
            if isinstance(env.event, types):
                yield env, env.event


class Projection:
    """Base class of every projection, built-in or an analyst's own.

    Subclasses set ``name`` (lowercase, a SQL identifier), ``tables`` (table name
    -> column definitions, as inside ``CREATE TABLE name (...)``), optionally
    ``indexes`` (SQL run after the tables, unqualified names), ``query_indexes``
    (the same, for indexes only queries use: built when the build is swapped in, so a
    rebuild fills its tables without maintaining them), ``streams`` and
    ``version`` (bump it when the tables or the meaning change: a rebuild then
    fills the new version beside the old one), and implement ``apply``.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    streams: ClassVar[tuple[str, ...]] = LOG_STREAMS
    tables: ClassVar[dict[str, str]] = {}
    indexes: ClassVar[tuple[str, ...]] = ()
    query_indexes: ClassVar[tuple[str, ...]] = ()

    def apply(self, batch: Batch, cur: Any) -> None:
        """Write the effect of ``batch`` with ``cur`` (a psycopg cursor, inside the transaction)."""
        raise NotImplementedError

    @classmethod
    def ident(cls) -> str:
        return f"{cls.name} v{cls.version}"


# What a build's store does with batches (``adapters/postgres_tracking.BuildRecorder``
# over PostgreSQL; ``tests/unit/fakes.FakeViewStore`` in memory).


class PositionMoved(Exception):
    """Another runner advanced this build meanwhile: reload the positions and go on."""


class Retired(Exception):
    """The build is no longer the live one (a rebuild swapped in its successor)."""


@dataclass
class Advance:
    """A stream's position before and after a batch, and the time of its last message."""

    expected: int
    new: int
    received_at: datetime | None


@dataclass
class WriteResult:
    applied: int = 0
    dead: list[tuple[Envelope, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Build:
    """One build of a projection: its own schema, filled beside the others."""

    name: str
    version: int
    schema: str
    state: str  # building | live | retired
    source: str
    created_at: datetime | None = None
    swapped_at: datetime | None = None
    layout: int = LAYOUT
    tenant: str | None = None
    """The force of an analyst's own projection (it reads that force's account only)."""


class ViewStore(Protocol):
    """A build's rows and log positions, written together, exactly once."""

    def positions(self, keys: tuple[str, ...]) -> dict[str, int]:
        """The committed position of each ``position_key``."""
        ...

    def close(self) -> None:
        """Release the build's connections (a new generation opens its own)."""
        ...

    def write(
        self,
        projection: Projection,
        envelopes: list[Envelope],
        advance: dict[str, Advance],
        *,
        live_name: str | None,
        counts: dict[str, int],
        rate: float,
    ) -> WriteResult:
        """Apply a batch and move the positions (``advance`` by ``position_key``) atomically,
        if each is still at
        ``Advance.expected`` (else ``PositionMoved``); poison events go to dead letters."""
        ...


class ProjectionStore(Protocol):
    """The registry of builds and the live pointer (``adapters/postgres_projections``)."""

    def setup(self) -> None: ...

    def close(self) -> None: ...

    def heartbeat(self, runner: str) -> None: ...

    def forget_runner(self, runner: str) -> None: ...

    def runners_alive(self, within_s: float) -> list[str]: ...

    def builds(self, name: str | None = None) -> list[Build]: ...

    def live(self, name: str) -> Build | None: ...

    def create_build(
        self, projection: type[Projection], source: str, tenant: str | None = None
    ) -> Build: ...

    def recorder(self, build: Build, tenant: str | None = None) -> ViewStore: ...

    def swap(self, build: Build, drop_old: bool = True) -> Build | None: ...

    def query(self, statement: str, params: Any = ()) -> list[dict[str, Any]]: ...
