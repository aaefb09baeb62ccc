"""Raw log messages to envelopes, once for all projections.

A message that is not a valid event (the gate quarantines those) or of a type
this version does not know yields no envelope, but its position still counts:
the runner advances past it and says how many it passed.
"""

from __future__ import annotations

from collections import Counter

from prestacop.domain import codec
from prestacop.domain.subjects import QUARANTINE
from prestacop.gate.records import decoder as quarantine_decoder
from prestacop.ports.log import Raw, timestamp
from prestacop.projections.api import Envelope


def decode_chunk(stream: str, chunk: list[Raw], invalid: Counter[str]) -> list[Envelope]:
    """The envelopes of a chunk of one stream; invalid messages are counted by reason."""
    out: list[Envelope] = []
    append = out.append
    if stream == QUARANTINE.name:
        for seq, subject, data, ts, _ in chunk:
            try:
                record = quarantine_decoder.decode(data)
            except Exception:
                invalid["bad_record"] += 1
                continue
            append(Envelope(stream, seq, subject, subject.split(".", 2)[1], timestamp(ts), record))
        return out
    decode = codec.decode
    nul = codec.may_hold_nul([m[2] for m in chunk])
    for seq, subject, data, ts, _ in chunk:
        received_at = timestamp(ts)
        try:
            event = decode(subject, data, received_at, nul=nul)
        except codec.InvalidMessage as bad:
            invalid[bad.reason] += 1
            continue
        append(Envelope(stream, seq, subject, subject.split(".", 2)[1], received_at, event))
    return out
