"""The one place where bytes become typed events, or a reason why not.

Decoding is validating: msgspec checks types and ranges from the Structs'
annotations; ``check`` adds the rules that need context (the subject the message
was published on and when the log received it). Nothing here does I/O: the
receiving time is passed in, so a rebuild judges a message exactly as live did.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec

from prestacop.domain import subjects
from prestacop.domain.events import (
    HUMAN_REVIEW_CODE,
    AlertClaimed,
    AlertReleased,
    AnyEvent,
    DroneControlTaken,
    Event,
    OperatorDecisionRecorded,
    PositionReported,
    ReplayRejectRecorded,
    ReplayRunRecorded,
    ViolationReported,
)
from prestacop.domain.upcasting import CURRENT_VERSIONS, upcast
from prestacop.domain.violation_codes import is_known

#: How far ahead of the log's clock an event's time may be (drone clocks drift).
MAX_CLOCK_SKEW = timedelta(minutes=5)
#: No event is older: a time near year 1 has no local day in New York (year 0).
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)

Reason = Literal[
    "bad_json",
    "unknown_type",
    "invalid_field",
    "unknown_code",
    "future_time",
    "missing_image",
    "image_mismatch",
    "subject_mismatch",
    "unknown_subject",
]
REASONS: tuple[Reason, ...] = Reason.__args__  # type: ignore[attr-defined]


class InvalidMessage(ValueError):
    """A message that is not a valid event of the protocol, with a reason code and detail."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)
_raw_decoder = msgspec.json.Decoder()


def encode(event: Event) -> bytes:
    return _encoder.encode(event)


def _classify(err: msgspec.DecodeError) -> InvalidMessage:
    text = str(err)
    if not isinstance(err, msgspec.ValidationError):
        return InvalidMessage("bad_json", text)
    if "`$.type`" in text or "field `type`" in text or text.startswith("Expected `object`"):
        return InvalidMessage("unknown_type", text)
    return InvalidMessage("invalid_field", text)


def decode_event(data: bytes, *, nul: bool = True) -> AnyEvent:
    """Bytes to a current-version event; ``InvalidMessage`` if they are not one.

    Any byte sequence yields an event or ``InvalidMessage``, never another error:
    the gate and the runner call this on whatever the log holds. ``nul=False``: the
    caller has seen that ``data`` holds no escaped NUL (``may_hold_nul`` of its chunk).
    """
    try:
        event: AnyEvent = _decoder.decode(data)
    except msgspec.DecodeError as err:
        raise _classify(err) from None
    except RecursionError:  # msgspec recurses into unknown fields too
        raise InvalidMessage("bad_json", "JSON nested too deeply to read") from None
    # (the tag is read only when some type has upcasters: a Struct's config is built per read)
    current = CURRENT_VERSIONS.get(_tag(event), 1) if CURRENT_VERSIONS else 1
    if event.v < 1:
        raise InvalidMessage("invalid_field", f"$.v {event.v} is not a version (1 or more)")
    if event.v > current:
        # Only an incompatible change bumps v: reading it as an older version would be a guess.
        raise InvalidMessage(
            "invalid_field", f"$.v {event.v} is newer than this reader's {_tag(event)} v{current}"
        )
    if event.v < current:
        obj: dict[str, Any] = _raw_decoder.decode(data)
        try:
            event = msgspec.convert(upcast(obj), AnyEvent)
        except msgspec.ValidationError as err:
            raise _classify(err) from None
        except LookupError as err:
            raise InvalidMessage("invalid_field", f"$.v {event.v}: {err}") from None
    if nul and b"\\u0000" in data:  # cheap test first: JSON can only carry NUL escaped
        _refuse_nul(event)
    return event


def may_hold_nul(datas: list[bytes]) -> bool:
    """False when none of ``datas`` can hold a NUL: one scan for a chunk, not one a message
    (a match across two messages' edge only costs the per-message test)."""
    return b"\\u0000" in b"".join(datas)


def _refuse_nul(event: Event) -> None:
    """Text fields refuse NUL (U+0000), which PostgreSQL text cannot store."""
    for name in event.__struct_fields__:
        value = getattr(event, name)
        if isinstance(value, str) and "\x00" in value:
            raise InvalidMessage("invalid_field", f"$.{name} contains NUL (U+0000)")


def _tag(event: Event) -> str:
    return type(event).__struct_config__.tag  # type: ignore[return-value]


def decode(subject: str, data: bytes, received_at: datetime, *, nul: bool = True) -> AnyEvent:
    """Decode and fully validate a message as read from the log (``nul``: see
    ``decode_event``)."""
    where = _parse(subject)
    event = decode_event(data, nul=nul)
    _check(event, where, received_at)
    return event


def _parse(subject: str) -> subjects.ParsedSubject:
    try:
        return subjects.parse(subject)
    except subjects.SubjectError as err:
        raise InvalidMessage("unknown_subject", str(err)) from None


def check(event: AnyEvent, subject: str, received_at: datetime) -> None:
    """The rules that need the subject and the log's receiving time."""
    _check(event, _parse(subject), received_at)


def _check(event: AnyEvent, where: subjects.ParsedSubject, received_at: datetime) -> None:
    _check_subject(event, where)
    time = event.time
    if time < EARLIEST_TIME:
        raise InvalidMessage("invalid_field", f"$.time {time.isoformat()} is before 1900")
    if time > received_at + MAX_CLOCK_SKEW:
        raise InvalidMessage(
            "future_time",
            f"$.time {time.isoformat()} is ahead of the log's clock {received_at.isoformat()}",
        )
    if isinstance(event, ViolationReported):
        _check_violation(event)
    elif isinstance(event, OperatorDecisionRecorded) and event.corrected_code is not None:
        if not is_known(event.corrected_code):
            raise InvalidMessage(
                "unknown_code", f"$.corrected_code {event.corrected_code} is not in the table"
            )


def _check_violation(event: ViolationReported) -> None:
    if not is_known(event.violation_code):
        raise InvalidMessage(
            "unknown_code", f"$.violation_code {event.violation_code} is not in the code table"
        )
    if event.origin == "drone":
        if event.image_id is None:
            raise InvalidMessage("missing_image", "$.image_id is required for a drone violation")
        if event.latitude is None or event.longitude is None:
            raise InvalidMessage("invalid_field", "$.latitude/$.longitude required from a drone")


_KIND_OF: dict[type, tuple[str, ...]] = {
    PositionReported: ("position",),
    AlertClaimed: ("alert",),
    AlertReleased: ("alert",),
    DroneControlTaken: ("alert",),
    OperatorDecisionRecorded: ("alert",),
    ReplayRunRecorded: ("replay",),
    ReplayRejectRecorded: ("replay",),
}


def expected_kind(event: AnyEvent) -> str:
    """The subject kind an event must be published on."""
    if isinstance(event, ViolationReported):
        if event.origin == "nypd_history":
            return "history"
        return "review" if event.violation_code == HUMAN_REVIEW_CODE else "violation"
    return _KIND_OF[type(event)][0]


_KEY_FIELD = {"alert": "alert_id", "replay": "run_id"}
"""The field a subject's key names, by kind (else ``drone_id``)."""


def _check_subject(event: AnyEvent, where: subjects.ParsedSubject) -> None:
    kind = expected_kind(event)
    if where.kind != kind:
        raise InvalidMessage(
            "subject_mismatch",
            f"a {_tag(event)} event belongs on a '{kind}' subject"
            f" (code {getattr(event, 'violation_code', '-')}), not '{where.kind}'",
        )
    field = _KEY_FIELD.get(kind, "drone_id")
    key = getattr(event, field)
    if key != where.key:
        raise InvalidMessage(
            "subject_mismatch", f"$.{field} {key!r} differs from the subject's {where.key!r}"
        )
    officer = getattr(event, "officer_id", where.officer)
    if where.officer and officer != where.officer:  # written in another officer's name
        raise InvalidMessage(
            "subject_mismatch",
            f"$.officer_id {officer!r} differs from the officer who wrote it ({where.officer!r})",
        )


def subject_for(tenant: str, event: AnyEvent) -> str:
    """The subject a well-formed event is published on."""
    kind = expected_kind(event)
    if kind == "alert":
        return subjects.alert(tenant, event.alert_id, event.officer_id)  # type: ignore[union-attr]
    if kind == "replay":
        what = "run" if isinstance(event, ReplayRunRecorded) else "reject"
        return subjects.replay_run(tenant, event.run_id, what)  # type: ignore[union-attr]
    builder = {
        "position": subjects.position,
        "violation": subjects.violation,
        "review": subjects.review,
        "history": subjects.history,
    }[kind]
    return builder(tenant, event.drone_id)  # type: ignore[union-attr]


def encode_checked(tenant: str, event: AnyEvent, now: datetime) -> tuple[str, bytes]:
    """Subject and bytes of an event that a receiver will accept; ``InvalidMessage`` if not.

    Structs do not validate on construction, so the bytes are decoded back: the
    sender applies exactly the receiver's rules.
    """
    subject = subject_for(tenant, event)
    data = encode(event)
    check(decode_event(data), subject, now)
    return subject, data
