"""Where each event lives in the log: subject names and the streams that capture them.

Every subject starts with ``prestacop.<tenant>`` so a police force's traffic can be
permitted, filtered and projected on its own. Human-review violations and the
life of their alerts have their own subjects (and stream) so that bulk traffic
never queues in front of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

ROOT = "prestacop"
TENANT_RE = re.compile(r"^[a-z0-9_-]{1,32}$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

Kind = Literal["position", "violation", "review", "alert", "history", "quarantine", "replay"]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A JetStream stream of the log: its name and the subjects it captures."""

    name: str
    subjects: tuple[str, ...]
    description: str


DRONES = StreamSpec(
    "PRESTACOP_DRONES",
    (f"{ROOT}.*.drone.>",),
    "Live drone traffic: positions and violations.",
)
ALERTS = StreamSpec(
    "PRESTACOP_ALERTS",
    (f"{ROOT}.*.review.*", f"{ROOT}.*.alert.*", f"{ROOT}.*.alert.*.*"),
    "Human-review violations and the life of their alerts (claims, decisions).",
)
HISTORY = StreamSpec(
    "PRESTACOP_HISTORY",
    (f"{ROOT}.*.history.>",),
    "NYPD history replayed as synthetic drone violations.",
)
QUARANTINE = StreamSpec(
    "PRESTACOP_QUARANTINE",
    (f"{ROOT}.*.quarantine.*",),
    "Messages set aside by validation, with their reason and log position.",
)
IMAGES = StreamSpec(
    "PRESTACOP_IMAGES",
    (f"{ROOT}.*.image.*",),
    "Violation images: one write-once message per image.",
)
LOG_STREAMS = (DRONES, ALERTS, HISTORY)


class SubjectError(ValueError):
    """A subject or subject token that does not follow the protocol."""


def check_tenant(tenant: str) -> str:
    if not TENANT_RE.match(tenant):
        raise SubjectError(f"tenant {tenant!r} must match {TENANT_RE.pattern}")
    return tenant


def check_token(value: str, what: str = "id") -> str:
    if not TOKEN_RE.match(value):
        raise SubjectError(f"{what} {value!r} must match {TOKEN_RE.pattern}")
    return value


def position(tenant: str, drone_id: str) -> str:
    return f"{ROOT}.{tenant}.drone.{drone_id}.position"


def violation(tenant: str, drone_id: str) -> str:
    return f"{ROOT}.{tenant}.drone.{drone_id}.violation"


def review(tenant: str, drone_id: str) -> str:
    """Subject of a violation that needs an officer (the alert's priority path)."""
    return f"{ROOT}.{tenant}.review.{drone_id}"


def alert(tenant: str, alert_id: str, officer_id: str) -> str:
    """Where ``officer_id`` writes on the alert: the server lets an officer's credentials
    publish under its own id only, so the subject says who wrote (readers check the event)."""
    return f"{ROOT}.{tenant}.alert.{alert_id}.{officer_id}"


def alert_life(tenant: str, alert_id: str) -> str:
    """Every officer's writes on one alert: claims and decisions, guarded by its last sequence."""
    return f"{ROOT}.{tenant}.alert.{alert_id}.*"


def history(tenant: str, drone_id: str) -> str:
    return f"{ROOT}.{tenant}.history.{drone_id}.violation"


def replay_run(tenant: str, run_id: str, what: str) -> str:
    """A replay run's own records in the history: ``what`` is ``run`` or ``reject``."""
    return f"{ROOT}.{tenant}.history.{run_id}.{what}"


def quarantine(tenant: str, stream: str) -> str:
    return f"{ROOT}.{tenant}.quarantine.{stream}"


def feedback(tenant: str, drone_id: str) -> str:
    """Where a drone hears the verdict on its messages set aside (core NATS, not stored)."""
    return f"{ROOT}.{tenant}.feedback.{drone_id}"


def image(tenant: str, image_id: str) -> str:
    """The image's own subject in the image stream (at most one message, ever)."""
    return f"{ROOT}.{tenant}.image.{image_id}"


@dataclass(frozen=True, slots=True)
class ParsedSubject:
    tenant: str
    kind: Kind
    key: str
    """The drone id, or the alert id for ``alert`` subjects, or the stream for ``quarantine``."""
    officer: str = ""
    """Who wrote on an ``alert`` subject (empty on the unbound subjects of older logs)."""


@lru_cache(maxsize=4096)  # a fleet repeats its subjects: every message of the log is parsed
def parse(subject: str) -> ParsedSubject:
    """Read tenant, kind and key back from a subject; ``SubjectError`` if it is not ours."""
    parts = subject.split(".")
    if len(parts) < 4 or parts[0] != ROOT or not TENANT_RE.match(parts[1]):
        raise SubjectError(f"subject {subject!r} is not a prestacop subject")
    tenant, area = parts[1], parts[2]
    if area == "drone" and len(parts) == 5 and parts[4] in ("position", "violation"):
        return ParsedSubject(tenant, parts[4], parts[3])  # type: ignore[arg-type]
    if area == "history" and len(parts) == 5 and parts[4] == "violation":
        return ParsedSubject(tenant, "history", parts[3])
    if area == "history" and len(parts) == 5 and parts[4] in ("run", "reject"):
        return ParsedSubject(tenant, "replay", parts[3])
    if area == "alert" and len(parts) == 5:
        return ParsedSubject(tenant, "alert", parts[3], parts[4])
    if area in ("review", "alert", "quarantine") and len(parts) == 4:
        return ParsedSubject(tenant, area, parts[3])  # type: ignore[arg-type]
    raise SubjectError(f"subject {subject!r} has no meaning in protocol v1")
