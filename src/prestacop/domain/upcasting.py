"""Reading old events beside new ones.

An upcaster turns the JSON object of event type ``tag`` at version ``v`` into
the object of version ``v + 1``. ``decode`` applies the chain to any event older
than its type's current version, so projections only ever see current events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

#: Current schema version of each event type (its tag); absent means 1.
CURRENT_VERSIONS: dict[str, int] = {}
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def current_version(tag: str) -> int:
    return CURRENT_VERSIONS.get(tag, 1)


def register(tag: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Declare ``fn`` as the step from ``from_version`` to ``from_version + 1`` of ``tag``."""

    def decorator(fn: Upcaster) -> Upcaster:
        UPCASTERS[(tag, from_version)] = fn
        CURRENT_VERSIONS[tag] = max(current_version(tag), from_version + 1)
        return fn

    return decorator


def upcast(obj: dict[str, Any]) -> dict[str, Any]:
    """Bring a decoded JSON object up to its type's current version."""
    tag = obj.get("type")
    version = obj.get("v", 1)
    if not isinstance(tag, str) or not isinstance(version, int):
        return obj
    while version < current_version(tag):
        step = UPCASTERS.get((tag, version))
        if step is None:
            raise LookupError(f"no upcaster for {tag} v{version}")
        obj = step(dict(obj))
        version += 1
        obj["v"] = version
    return obj


@register("violation", 1)
def _violation_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """v1 had no image digest: read as v2 without one (the gate cannot check its bytes)."""
    return obj
