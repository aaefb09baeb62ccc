"""One decision of validity: a view takes back what the gate set aside after reading it.

The codec's checks (bytes, subject, the log's time) are repeated by the runner, so a
message they refuse never reaches a view. The image checks (``missing_image``,
``image_mismatch``) depend on the image store and on when the gate looked: only the
gate decides them, and its decision is a record in the log (the quarantine stream,
naming the event). A view that counts violations reads that stream too and, keyed
by event identity (tenant + message id), never counts a set-aside event: it skips
it when the record came first and takes it back, once, when the record came later.
The result does not depend on the reading order, so a rebuild gives the same rows.

A message id set aside is spent: an event counted under it and then set aside in a
later copy is taken back too (a drone sends its corrected violation under a new id).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from prestacop.domain.events import ViolationReported
from prestacop.domain.quarantine import Quarantined
from prestacop.domain.subjects import QUARANTINE
from prestacop.projections.api import Envelope
from prestacop.projections.sql import record_new, recorded

STREAM = QUARANTINE.name
COLUMNS = "tenant text NOT NULL, message_id text NOT NULL, PRIMARY KEY (tenant, message_id)"

Identity = tuple[str, str]


def set_aside(
    cur: Any, table: str, batch: Sequence[Envelope]
) -> tuple[list[Envelope], list[Identity]]:
    """Record the events ``batch``'s quarantine records set aside in ``table`` (which has
    ``COLUMNS``). Returns the batch's other envelopes but the set-aside violations, and
    the identities newly set aside: the view takes back what it counted of them."""
    named: set[Identity] = set()
    events: list[Envelope] = []
    asked: set[Identity] = set()
    for env in batch:  # one pass: this runs for every view on every batch
        e = env.event
        if isinstance(e, Quarantined):
            if mid := e.set_aside_event():
                named.add((env.tenant, mid))
            continue
        events.append(env)
        # only a drone's violation (it names an image) can be set aside after the codec
        if isinstance(e, ViolationReported) and e.image_id is not None:
            asked.add((env.tenant, e.message_id))
    new = sorted(record_new(cur, table, named))
    if not asked or not _holds(cur, table, {t for t, _ in asked}):
        return events, new
    out = recorded(cur, table, asked)
    if not out:
        return events, new
    kept = [
        env
        for env in events
        if not (
            isinstance(env.event, ViolationReported) and (env.tenant, env.event.message_id) in out
        )
    ]
    return kept, new


def _holds(cur: Any, table: str, tenants: set[str]) -> bool:
    """Whether ``table`` sets aside anything of ``tenants``: mostly not, and then the batch's
    violations need not be looked up one by one."""
    row = cur.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE tenant = ANY(%s)) AS any").format(
            sql.Identifier(table)
        ),
        (sorted(tenants),),
    ).fetchone()
    return bool(row["any"] if isinstance(row, dict) else row[0])


def columns(identities: Sequence[Identity]) -> tuple[list[str], list[str]]:
    """Tenants and ids as two arrays, for ``unnest(%s::text[], %s::text[])``."""
    return [t for t, _ in identities], [i for _, i in identities]
