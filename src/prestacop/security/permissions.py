"""The permissions of each role inside its force's NATS account, as subject allow-lists.

A force's account is its own subject space: nothing here can name another force's
data. Inside it, each role gets only what its job needs, and each non-service user
gets an inbox of its own (``inbox_prefix``), so that no drone or officer can listen to
the replies the force's services receive. Pure data: written into user JWTs.
"""

from __future__ import annotations

from dataclasses import dataclass

from prestacop.domain import subjects
from prestacop.ports.log import HEADER_ROOM, MAX_IMAGE_BYTES

_IMAGES = subjects.IMAGES.name
_API = "$JS.API"


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    deny_publish: tuple[str, ...] = ()
    limits: tuple[tuple[str, int], ...] = ()
    """Per-user limits (``subs``, ``data``, ``payload`` in bytes): how much one user may take."""

    @property
    def inbox_prefix(self) -> str:
        return self.subscribe[0].removesuffix(".>")


SERVICE_DURABLES = ("gate",)
"""The services' durable consumers: no other role may create (so redefine) them."""


def _not_the_services_consumers() -> tuple[str, ...]:
    # A named create on an existing durable is an update: keep those names the services'.
    named = (f"{_API}.CONSUMER.CREATE.*.{name}" for name in SERVICE_DURABLES)
    return (
        f"{_API}.CONSUMER.DURABLE.>",
        f"{_API}.CONSUMER.DELETE.>",
        *(n + suffix for n in named for suffix in ("", ".>")),
    )


def inbox(role: str, ident: str = "") -> str:
    """A user's own reply subjects: ``_INBOX_<role>.<id>`` (the client learns it from its creds)."""
    return f"_INBOX_{role}" + (f".{ident}" if ident else "")


def drone(tenant: str, drone_id: str) -> Permissions:
    """Its own reports and images; reads nothing but the acks in its own inbox."""
    subjects.check_tenant(tenant)
    subjects.check_token(drone_id, "drone id")
    return Permissions(
        publish=(
            subjects.position(tenant, drone_id),
            subjects.violation(tenant, drone_id),
            subjects.review(tenant, drone_id),
            # a new image only: the image stream refuses a second message on a subject
            subjects.image(tenant, "*"),
        ),
        subscribe=(f"{inbox('DRONE', drone_id)}.>", subjects.feedback(tenant, drone_id)),
        limits=(("subs", 10), ("payload", MAX_IMAGE_BYTES + HEADER_ROOM)),
    )


def nypd_replay(tenant: str) -> Permissions:
    """History only; reading the history tail back is what resuming needs."""
    subjects.check_tenant(tenant)
    h = subjects.HISTORY.name
    return Permissions(
        publish=(
            f"{subjects.ROOT}.{tenant}.history.>",
            f"{_API}.STREAM.INFO.*",  # checking the topology exists before a run
            f"{_API}.STREAM.MSG.GET.{h}",
            f"{_API}.DIRECT.GET.{h}.>",
            # resuming reads the ids already in the log with an ephemeral consumer
            f"{_API}.CONSUMER.CREATE.{h}",
            f"{_API}.CONSUMER.CREATE.{h}.>",
            f"{_API}.CONSUMER.INFO.{h}.>",
            f"{_API}.CONSUMER.MSG.NEXT.{h}.>",
        ),
        subscribe=(f"{inbox('REPLAY')}.>",),
        deny_publish=_not_the_services_consumers(),
        limits=(("subs", 100), ("payload", 1024 * 1024)),
    )


BOARDS = "PRESTACOP_ALERT_BOARDS"  # alerts.snapshot.BUCKET (security imports no service)


def officer(tenant: str, officer_id: str) -> Permissions:
    """Alert decisions of one force in the officer's own name; reading its alerts, drones,
    images and the gate's records (a review set aside for its image is no alert on the console).

    The officer's id is the last token of the subjects it may write on
    (``subjects.alert``): a claim or decision in another officer's name cannot be published.

    Reading needs ephemeral consumers (the alert feed): an officer
    may create them, never a durable one and never delete any (the services' durables
    stay theirs); ephemerals go by themselves when idle.
    """
    subjects.check_tenant(tenant)
    subjects.check_token(officer_id, "officer id")
    read = (subjects.ALERTS.name, subjects.DRONES.name, subjects.QUARANTINE.name)
    return Permissions(
        publish=(
            subjects.alert(tenant, "*", officer_id),
            *(f"{_API}.STREAM.INFO.{s}" for s in read),
            *(f"{_API}.STREAM.MSG.GET.{s}" for s in read),
            *(f"{_API}.DIRECT.GET.{s}.>" for s in read),
            *(f"{_API}.CONSUMER.CREATE.{s}.>" for s in read),
            *(f"{_API}.CONSUMER.MSG.NEXT.{s}.>" for s in read),
            f"{_API}.DIRECT.GET.{_IMAGES}.>",
            f"{_API}.DIRECT.GET.{_IMAGES}",
            f"{_API}.INFO",
            "$JS.FC.>",
            # the force's alert board snapshot: where a console starts (alerts/snapshot.py)
            f"$KV.{BOARDS}.{tenant}",
            f"{_API}.DIRECT.GET.KV_{BOARDS}.$KV.{BOARDS}.{tenant}",
        ),
        subscribe=(f"{inbox('OFFICER', officer_id)}.>", "$JS.FC.>"),
        deny_publish=_not_the_services_consumers(),
        limits=(("subs", 100), ("payload", 64 * 1024)),
    )
