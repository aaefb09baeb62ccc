"""The permissions of each role, as NATS subject allow-lists.

The gate rejects a message whose payload does not match its subject; these
permissions make the server refuse, before the log, a publisher that writes
where it does not belong: a drone only under its own id, the NYPD replay only
to history, officers only to alert subjects. Pure data: rendered into a
nats-server ``authorization`` block by ``render_authorization``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from prestacop.domain import subjects

_IMAGES = f"OBJ_{subjects.IMAGE_BUCKET}"
_API = "$JS.API"


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...] = ("_INBOX.>",)
    deny_publish: tuple[str, ...] = ()


@dataclass(frozen=True)
class User:
    name: str
    password: str
    permissions: Permissions | None = field(default=None)
    """``None``: a back-end service with full rights (projections, gate)."""


def _image_upload() -> tuple[str, ...]:
    # A new object: read its (absent) info, write chunks and metadata. No purge:
    # a drone cannot erase other images' chunks.
    return (
        f"$O.{subjects.IMAGE_BUCKET}.C.>",
        f"$O.{subjects.IMAGE_BUCKET}.M.>",
        f"{_API}.STREAM.INFO.{_IMAGES}",
        f"{_API}.STREAM.MSG.GET.{_IMAGES}",
        f"{_API}.DIRECT.GET.{_IMAGES}.>",
    )


def drone(tenant: str, drone_id: str) -> Permissions:
    subjects.check_tenant(tenant)
    subjects.check_token(drone_id, "drone id")
    return Permissions(
        publish=(
            subjects.position(tenant, drone_id),
            subjects.violation(tenant, drone_id),
            subjects.review(tenant, drone_id),
            *_image_upload(),
        )
    )


def nypd_replay(tenant: str) -> Permissions:
    """History only; reading the history tail back is what resuming needs."""
    subjects.check_tenant(tenant)
    return Permissions(
        publish=(
            f"{subjects.ROOT}.{tenant}.history.>",
            f"{_API}.STREAM.INFO.{subjects.HISTORY.name}",
            f"{_API}.STREAM.MSG.GET.{subjects.HISTORY.name}",
            f"{_API}.DIRECT.GET.{subjects.HISTORY.name}.>",
            f"{_API}.CONSUMER.CREATE.{subjects.HISTORY.name}.>",
            f"{_API}.CONSUMER.DELETE.{subjects.HISTORY.name}.>",
            f"{_API}.CONSUMER.MSG.NEXT.{subjects.HISTORY.name}.>",
        )
    )


BOARDS = "PRESTACOP_ALERT_BOARDS"  # alerts.snapshot.BUCKET (security imports no service)


def officer(tenant: str) -> Permissions:
    """Alert decisions of one force; reading its alert stream and images."""
    subjects.check_tenant(tenant)
    read = (subjects.ALERTS.name, _IMAGES, subjects.DRONES.name)
    return Permissions(
        publish=(
            f"{subjects.ROOT}.{tenant}.alert.*",
            *(f"{_API}.STREAM.INFO.{s}" for s in read),
            *(f"{_API}.STREAM.MSG.GET.{s}" for s in read),
            *(f"{_API}.DIRECT.GET.{s}.>" for s in read),
            *(f"{_API}.CONSUMER.CREATE.{s}.>" for s in read),
            *(f"{_API}.CONSUMER.CREATE.{s}" for s in read),  # unnamed: object-store reads
            *(f"{_API}.CONSUMER.DELETE.{s}.>" for s in read),
            *(f"{_API}.CONSUMER.MSG.NEXT.{s}.>" for s in read),
            f"{_API}.INFO",
            f"{_API}.STREAM.NAMES",  # an object-store read looks its stream up by subject
            "$JS.FC.>",
            # the force's alert board snapshot: where a console starts (alerts/snapshot.py)
            f"$KV.{BOARDS}.{tenant}",
            f"{_API}.DIRECT.GET.KV_{BOARDS}.$KV.{BOARDS}.{tenant}",
        ),
        subscribe=("_INBOX.>", "$JS.FC.>"),
    )


def render_authorization(users: list[User]) -> str:
    """A nats-server ``authorization { users = [...] }`` block (JSON is valid NATS config)."""
    entries = []
    for user in users:
        entry: dict[str, object] = {"user": user.name, "password": user.password}
        if user.permissions is not None:
            p = user.permissions
            entry["permissions"] = {
                "publish": {"allow": list(p.publish), "deny": list(p.deny_publish)},
                "subscribe": {"allow": list(p.subscribe)},
            }
        entries.append(entry)
    return "authorization " + json.dumps({"users": entries}, indent=2) + "\n"
