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
    named = {
        (env.tenant, mid)
        for env in batch
        if isinstance(env.event, Quarantined) and (mid := env.event.set_aside_event())
    }
    new = sorted(record_new(cur, table, named))
    events = [env for env in batch if not isinstance(env.event, Quarantined)]
    # only a drone's violation (it names an image) can be set aside after the codec
    asked = {
        (env.tenant, env.event.message_id)
        for env in events
        if isinstance(env.event, ViolationReported) and env.event.image_id is not None
    }
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


def columns(identities: Sequence[Identity]) -> tuple[list[str], list[str]]:
    """Tenants and ids as two arrays, for ``unnest(%s::text[], %s::text[])``."""
    return [t for t, _ in identities], [i for _, i in identities]
