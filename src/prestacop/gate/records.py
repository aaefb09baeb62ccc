"""The record of a message set aside by validation."""

from __future__ import annotations

import base64
from datetime import datetime

import msgspec

from prestacop.domain.codec import Reason


class Quarantined(msgspec.Struct, frozen=True, kw_only=True):
    """Why a message of the log is not a valid event, and where it is.

    ``raw`` holds the payload as text when it is UTF-8, else ``raw_base64`` holds it.
    The message itself stays in its stream at ``seq``: this is a pointer with a reason.
    """

    stream: str
    seq: int
    subject: str
    received_at: datetime
    reason: Reason
    detail: str
    raw: str | None = None
    raw_base64: str | None = None

    @property
    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw.encode()
        return base64.b64decode(self.raw_base64 or "")

    @property
    def message_key(self) -> str:
        """The de-duplication key: one record per log position."""
        return f"q-{self.stream}-{self.seq}"


def quarantine_record(
    stream: str,
    seq: int,
    subject: str,
    received_at: datetime,
    reason: Reason,
    detail: str,
    data: bytes,
) -> Quarantined:
    try:
        raw, raw_base64 = data.decode("utf-8"), None
    except UnicodeDecodeError:
        raw, raw_base64 = None, base64.b64encode(data).decode()
    return Quarantined(
        stream=stream,
        seq=seq,
        subject=subject,
        received_at=received_at,
        reason=reason,
        detail=detail,
        raw=raw,
        raw_base64=raw_base64,
    )


encoder = msgspec.json.Encoder()
decoder = msgspec.json.Decoder(Quarantined)
