"""Writing the record of a message set aside by validation (``domain/quarantine``)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

import msgspec

from prestacop.domain import quarantine
from prestacop.domain.codec import Reason
from prestacop.domain.quarantine import LATE_REASONS, Quarantined

__all__ = ["LATE_REASONS", "Quarantined", "decoder", "encoder", "quarantine_record"]

#: Largest record (the quarantine stream accepts 128 KiB); a larger one keeps a prefix.
MAX_RECORD_BYTES = 64 * 1024
PREFIX_BYTES = 4 * 1024


encoder = msgspec.json.Encoder()


def quarantine_record(
    stream: str,
    seq: int,
    subject: str,
    received_at: datetime,
    reason: Reason,
    detail: str,
    data: bytes,
    message_id: str | None = None,
) -> Quarantined:
    try:
        raw: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        raw = None
    if raw is not None and "\x00" in raw:
        raw = None
    record = Quarantined(
        stream=stream,
        seq=seq,
        subject=subject.replace("\x00", "\\x00"),
        received_at=received_at,
        reason=reason,
        detail=detail.replace("\x00", "\\x00"),
        raw=raw,
        raw_base64=None if raw is not None else base64.b64encode(data).decode(),
        message_id=message_id if reason in LATE_REASONS else None,
    )
    if len(encoder.encode(record)) <= MAX_RECORD_BYTES:
        return record
    digest = hashlib.sha256(data).hexdigest()
    return msgspec.structs.replace(
        record,
        detail=f"{record.detail[:2000]} [payload of {len(data)} bytes, sha256 {digest}:"
        f" record over {MAX_RECORD_BYTES} bytes, only its first {PREFIX_BYTES} bytes kept]",
        raw=None,
        raw_base64=base64.b64encode(data[:PREFIX_BYTES]).decode(),
        truncated=True,
        size=len(data),
        sha256=digest,
    )


decoder = quarantine.decoder
