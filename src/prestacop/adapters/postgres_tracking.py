"""A projection build's tracking recorder: view rows, log positions and dead letters
commit in one transaction (eventsourcing's ``PostgresTrackingRecorder``, one
tracking row per force and stream, as every force's account has streams of the same
names: ``Tracking(application_name=<force>/<stream>, notification_id=<seq>)``, see
``position_key``). Progress and dead letters are keyed by force and stream too.

eventsourcing only refuses a position that does not move forward; a batch also
checks that the position it starts from is still the stored one, so two runners
on the same build can never apply the same events twice.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import sql

from prestacop.ports.projection import (
    Advance,
    Batch,
    Envelope,
    PositionMoved,
    Projection,
    Retired,
    WriteResult,
    split_key,
)

__all__ = [
    "Advance",
    "BuildRecorder",
    "PositionMoved",
    "PositionsElsewhere",
    "Retired",
    "WriteResult",
]

log = logging.getLogger(__name__)


class PositionsElsewhere(ValueError):
    """A build's positions were read from the log some other way (per force or not)."""


class BuildRecorder(PostgresTrackingRecorder):
    """Tracking, progress and dead letters of one build, in the build's own schema."""

    def __init__(self, datastore: PostgresDatastore, meta_schema: str) -> None:
        super().__init__(datastore, tracking_table_name="tracking")
        self.run_as: str | None = None
        """The role ``apply`` runs as (a force's projector), when not the owner."""
        self.schema = datastore.schema
        self.meta_schema = meta_schema
        ident = sql.Identifier(self.schema)
        self.sql_create_statements.append(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.dead_letters ("
                "stream text NOT NULL, seq bigint NOT NULL, subject text NOT NULL,"
                " tenant text NOT NULL, event_type text, error text NOT NULL,"
                " detail text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (tenant, stream, seq))"
            ).format(ident)
        )
        self.sql_create_statements.append(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.progress ("
                "tenant text NOT NULL, stream text NOT NULL, seq bigint NOT NULL,"
                " received_at timestamptz, events bigint NOT NULL DEFAULT 0,"
                " rate double precision NOT NULL DEFAULT 0,"
                " updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tenant, stream))"
            ).format(ident)
        )
        self._set_path = sql.SQL("SET LOCAL search_path TO {}, public").format(ident)
        # A build not yet live commits without waiting for its WAL flush: its rows and its
        # position commit together, so a commit lost in a crash is read again from the log;
        # the swap that makes it live is a synchronous commit, which flushes all before it.
        self._set_path_building = sql.SQL(
            "SET LOCAL search_path TO {}, public; SET LOCAL synchronous_commit TO off"
        ).format(ident)
        self._lock_live = sql.SQL("SELECT schema FROM {}.live WHERE name = %s FOR SHARE").format(
            sql.Identifier(meta_schema)
        )
        self._lock_position = sql.SQL(
            "SELECT notification_id FROM {}.tracking WHERE application_name = %s FOR UPDATE"
        ).format(ident)
        self._keys = sql.SQL("SELECT application_name FROM {}.tracking").format(ident)
        self._progress = sql.SQL(
            "INSERT INTO {}.progress AS p (tenant, stream, seq, received_at, events, rate,"
            " updated_at) VALUES (%s, %s, %s, %s, %s, %s, now())"
            " ON CONFLICT (tenant, stream) DO UPDATE SET"
            " seq = excluded.seq, received_at = coalesce(excluded.received_at, p.received_at),"
            " events = p.events + excluded.events, rate = excluded.rate, updated_at = now()"
        ).format(ident)
        self._dead = sql.SQL(
            "INSERT INTO {}.dead_letters (stream, seq, subject, tenant, event_type, error, detail)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (tenant, stream, seq) DO NOTHING"
        ).format(ident)

    def positions(self, keys: tuple[str, ...]) -> dict[str, int]:
        """Refuses to read per force a build read from one account, or the reverse: a
        force's events would be applied twice (under both keys)."""
        with self.datastore.transaction(commit=False) as cur:
            stored = [  # eventsourcing's own rows (``__migration__``) are no position
                r["application_name"]
                for r in cur.execute(self._keys)
                if not r["application_name"].startswith("__")
            ]
        kinds = {"/" in k for k in keys}
        if other := [k for k in stored if ("/" in k) not in kinds]:
            raise PositionsElsewhere(
                f"{self.schema} has positions {', '.join(sorted(other)[:3])}, read"
                f" {'from one account' if '/' not in other[0] else 'per force'}; this runner"
                f" reads {', '.join(keys[:3])}: use the home's service credentials for every"
                " force (unset a foreign NATS_CREDS), or another --namespace"
            )
        return {k: self.max_tracking_id(k) or 0 for k in keys}

    def close(self) -> None:
        self.datastore.close()

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
        """Apply a batch and move the positions, atomically; poison events go to
        ``dead_letters`` (with the error and position) and the rest still apply."""
        result = WriteResult()
        with self.datastore.transaction(commit=True) as cur:
            if live_name is not None:
                row = cur.execute(self._lock_live, (live_name,)).fetchone()
                if row is None or row["schema"] != self.schema:
                    raise Retired(f"{self.schema} is no longer the live build of {live_name}")
            cur.execute(self._set_path if live_name is not None else self._set_path_building)
            for key, adv in advance.items():
                row = cur.execute(self._lock_position, (key,)).fetchone()
                stored = row["notification_id"] if row else 0
                if stored != adv.expected:
                    raise PositionMoved(f"{self.schema} {key}: at {stored}, not {adv.expected}")
                self._track(cur, Tracking(key, adv.new))
                force, stream = split_key(key)
                cur.execute(
                    self._progress,
                    (force, stream, adv.new, adv.received_at, counts.get(key, 0), rate),
                )
            if envelopes:
                self._apply(projection, envelopes, cur, result)
        return result

    def _track(self, cur: Any, tracking: Tracking) -> None:
        """Move a stream's tracking row forward with eventsourcing's own (public) statement."""
        cur.execute(
            self.insert_tracking_statement,
            {
                "application_name": tracking.application_name,
                "notification_id": tracking.notification_id,
            },
        )
        if self.datastore.single_row_tracking and cur.fetchone() is None:
            raise IntegrityError(
                f"{self.schema} {tracking.application_name}: position"
                f" {tracking.notification_id} does not move forward"
            )

    def _apply_as(self, projection: Projection, envelopes: list[Envelope], cur: Any) -> None:
        """``apply`` with the rights of ``run_as`` only (inside a savepoint: a failure also
        rolls the role back)."""
        if self.run_as is None:
            projection.apply(Batch(envelopes), cur)
            return
        cur.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(self.run_as)))
        projection.apply(Batch(envelopes), cur)
        cur.execute("RESET ROLE")

    def _apply(
        self, projection: Projection, envelopes: list[Envelope], cur: Any, result: WriteResult
    ) -> None:
        conn = cur.connection
        try:
            with conn.transaction():
                self._apply_as(projection, envelopes, cur)
            result.applied = len(envelopes)
            return
        except Exception as err:
            log.warning("%s: batch failed (%s); applying one by one", projection.ident(), err)
        for env in envelopes:  # find the poison: each event in its own savepoint
            try:
                with conn.transaction():
                    self._apply_as(projection, [env], cur)
                result.applied += 1
            except Exception as err:
                error = f"{type(err).__name__}: {err}"
                result.dead.append((env, error))
                cur.execute(
                    self._dead,
                    (
                        env.stream,
                        env.seq,
                        env.subject,
                        env.tenant,
                        type(env.event).__name__,
                        error,
                        traceback.format_exc(limit=8),
                    ),
                )
                log.error(
                    "%s: dead letter %s #%d (%s): %s",
                    projection.ident(),
                    env.stream,
                    env.seq,
                    env.subject,
                    error,
                )
