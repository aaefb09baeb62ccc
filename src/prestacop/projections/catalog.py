"""Which projections exist: the built-in views, and analysts' own by name.

An analyst's projection is named ``module:Class`` or by an entry point in the
group ``prestacop.projections`` (``[project.entry-points."prestacop.projections"]``).
Registered projections (every entry point of the group, and the specs listed in
``PRESTACOP_PROJECTIONS``) run with the built-ins when no names are given, so a
running ``project run`` keeps them current like the built-in views.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Sequence
from importlib.metadata import entry_points

from prestacop.projections.api import Projection
from prestacop.projections.views.alerts import Alerts
from prestacop.projections.views.drones import Drones
from prestacop.projections.views.rejected import Rejected
from prestacop.projections.views.replay_runs import ReplayRuns
from prestacop.projections.views.statistics import Statistics
from prestacop.projections.views.violations import Violations

BUILTINS: dict[str, type[Projection]] = {
    p.name: p for p in (Violations, Drones, Alerts, Statistics, Rejected, ReplayRuns)
}
ENTRY_POINT_GROUP = "prestacop.projections"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


class ProjectionNotFound(LookupError):
    """A projection name or ``module:Class`` that does not lead to a projection."""


def load(spec: str) -> type[Projection]:
    """A projection class from ``module:Class`` or an entry point name; checked."""
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ProjectionNotFound(f"{spec}: {err}") from err
    else:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec]
        if not found:
            raise ProjectionNotFound(
                f"{spec!r}: not module:Class, and no entry point in {ENTRY_POINT_GROUP!r}"
            )
        obj = found[0].load()
    return check(obj, spec)


def check(obj: object, spec: str) -> type[Projection]:
    if not (isinstance(obj, type) and issubclass(obj, Projection)):
        raise ProjectionNotFound(f"{spec}: not a subclass of prestacop.projections.Projection")
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ProjectionNotFound(f"{spec}: name {name!r} must match {NAME_RE.pattern}")
    if not obj.tables:
        raise ProjectionNotFound(f"{spec}: declares no tables")
    if obj.apply is Projection.apply:
        raise ProjectionNotFound(f"{spec}: does not implement apply(batch, cur)")
    return obj


def registered() -> list[str]:
    """Specs of the registered custom projections: entry points, then the config list."""
    specs = [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)]
    configured = os.environ.get("PRESTACOP_PROJECTIONS", "").replace(",", " ").split()
    return list(dict.fromkeys([*specs, *configured]))


def select(
    names: Sequence[str] | None, custom: Sequence[str] = ()
) -> tuple[list[type[Projection]], dict[str, str]]:
    """Built-ins by name (all, and the registered custom ones, when ``names`` is None) plus
    ``custom`` ones."""
    chosen: list[type[Projection]] = []
    sources: dict[str, str] = {}
    if names is None:
        custom = list(dict.fromkeys([*custom, *registered()]))
    for name in list(BUILTINS) if names is None else names:
        if name not in BUILTINS:
            raise ProjectionNotFound(
                f"no built-in projection {name!r} (built-ins: {', '.join(BUILTINS)})"
            )
        chosen.append(BUILTINS[name])
    for spec in custom:
        cls = load(spec)
        if any(c is cls for c in chosen):
            continue  # the same class, named twice (entry point and module:Class)
        if any(c.name == cls.name for c in chosen):
            raise ProjectionNotFound(f"{spec}: name {cls.name!r} is already taken")
        chosen.append(cls)
        sources[cls.name] = spec
    return chosen, sources
