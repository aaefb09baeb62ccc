"""What a quarantine record is: a message of the log set aside by the gate, with why.

Written by the gate (``gate/records.py``); read by the ``rejected`` view, by the views
that take back what the gate sets aside (``projections/set_aside.py``) and by the
officers' console (a review set aside is no alert).
"""

from __future__ import annotations

import base64
from datetime import datetime

import msgspec

from prestacop.domain.codec import Reason

#: Verdicts on a valid event that depend on the image store, not on the message's bytes:
#: the projections cannot repeat them, so they follow the gate's record.
LATE_REASONS: frozenset[str] = frozenset({"missing_image", "image_mismatch"})


class Quarantined(msgspec.Struct, frozen=True, kw_only=True):
    """Why a message of the log is not a valid event, and where it is.

    ``raw`` holds the payload as text when it is UTF-8 without NUL (which PostgreSQL
    text refuses), else ``raw_base64`` holds it. A payload whose record would exceed
    ``gate/records.MAX_RECORD_BYTES`` (escaping can blow 60 KB up to 360 KB) keeps only a prefix:
    ``truncated`` is set, ``size`` and ``sha256`` describe the whole, and ``detail``
    says so. The message itself stays in its stream at ``seq``: this is a pointer
    with a reason. ``message_id`` names the event set aside when the message was a
    valid event the gate refused after reading it (its image: ``LATE_REASONS``): the
    views take that event back (``projections/set_aside.py``).
    """

    stream: str
    seq: int
    subject: str
    received_at: datetime
    reason: Reason
    detail: str
    raw: str | None = None
    raw_base64: str | None = None
    truncated: bool = False
    size: int | None = None
    sha256: str | None = None
    message_id: str | None = None

    @property
    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw.encode()
        return base64.b64decode(self.raw_base64 or "")

    @property
    def message_key(self) -> str:
        """The de-duplication key: one record per log position."""
        return f"q-{self.stream}-{self.seq}"

    def set_aside_event(self) -> str | None:
        """The message id of the valid event this record sets aside for a reason the
        codec cannot see (its image), or None. Records written before ``message_id``
        existed name it in their payload."""
        if self.reason not in LATE_REASONS:
            return None
        if self.message_id is not None:
            return self.message_id
        try:
            found = msgspec.json.decode(self.payload).get("message_id")
        except (msgspec.DecodeError, AttributeError, ValueError):
            return None
        return found if isinstance(found, str) else None


decoder = msgspec.json.Decoder(Quarantined)
