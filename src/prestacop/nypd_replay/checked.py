"""Validating the events the replay sends without decoding them back.

``codec.encode_checked`` encodes an event and decodes the bytes to apply the
receivers' rules: half of the parse cost (issue 13). The typed fields already
sit in the Struct, so their constraints (``Meta`` lengths, patterns, ranges,
literals, time zone) are checked directly by a function generated once from the
Struct's own annotations (``msgspec.inspect``), like ``dataclasses`` builds an
``__init__``. An event that fails the quick check goes through the reference
path, so a reject carries exactly the receiver's reason and detail.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
from msgspec import inspect as mi

from prestacop.domain import codec
from prestacop.domain.events import ViolationReported


class Unsupported(Exception):
    """A field type the generated check does not cover (the decode path is used instead)."""


def _bounds(t: Any, v: str) -> list[str]:
    out = []
    for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        bound = getattr(t, attr, None)
        if bound is not None:
            out.append(f"{v} {op} {bound!r}")
    if getattr(t, "multiple_of", None) is not None:
        raise Unsupported("multiple_of")
    return out


def _condition(t: Any, v: str, env: dict[str, object]) -> str:
    """A Python expression true when ``v`` decodes as type ``t``."""
    if isinstance(t, mi.UnionType):  # None first: most optional fields of history are None
        types = sorted(t.types, key=lambda u: not isinstance(u, mi.NoneType))
        parts = [_condition(u, v, env) for u in types]
        return "(" + " or ".join(parts) + ")"
    if isinstance(t, mi.NoneType):
        return f"{v} is None"
    if isinstance(t, mi.BoolType):
        return f"type({v}) is bool"
    if isinstance(t, mi.StrType):
        conds = [f"type({v}) is str"]
        if t.min_length is not None:
            conds.append(f"len({v}) >= {t.min_length}")
        if t.max_length is not None:
            conds.append(f"len({v}) <= {t.max_length}")
        if t.pattern is not None:
            name = f"_rx{len(env)}"
            env[name] = re.compile(t.pattern).search
            conds.append(f"{name}({v}) is not None")
        return "(" + " and ".join(conds) + ")"
    if isinstance(t, mi.IntType):
        return "(" + " and ".join([f"type({v}) is int", *_bounds(t, v)]) + ")"
    if isinstance(t, mi.FloatType):  # JSON carries no NaN or infinity
        conds = [f"(type({v}) is float or type({v}) is int)", f"_finite({v})", *_bounds(t, v)]
        return "(" + " and ".join(conds) + ")"
    if isinstance(t, mi.LiteralType):
        name = f"_lit{len(env)}"
        env[name] = frozenset(t.values)
        return f"({v}.__class__ in (str, int) and {v} in {name})"
    if isinstance(t, mi.DateTimeType):
        aware = {True: " and {v}.tzinfo is not None", False: " and {v}.tzinfo is None"}
        return f"(type({v}) is _datetime" + aware.get(t.tz, "").format(v=v) + ")"  # type: ignore[arg-type]
    raise Unsupported(type(t).__name__)


def compile_check(struct: type[msgspec.Struct]) -> Callable[[Any], bool]:
    """A function telling whether an instance of ``struct`` would decode back unchanged."""
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    env: dict[str, object] = {"_finite": math.isfinite, "_datetime": datetime}
    lines = ["def check(e):"]
    for f in info.fields:
        if not f.name.isidentifier():
            raise Unsupported(f.name)
        lines.append(f"    v = e.{f.name}")
        lines.append(f"    if not {_condition(f.type, 'v', env)}: return False")
    lines.append("    return True")
    exec("\n".join(lines), env)  # trusted text: built from our own annotations only
    return env["check"]  # type: ignore[return-value]


try:
    _violation_ok: Callable[[Any], bool] | None = compile_check(ViolationReported)
except Unsupported:  # a field type added later that the check cannot express
    _violation_ok = None
_subjects: dict[tuple[str, str], str] = {}


def encode_checked(tenant: str, event: ViolationReported, now: datetime) -> tuple[str, bytes]:
    """``codec.encode_checked`` for a history event, without the second decode."""
    if _violation_ok is None or event.origin != "nypd_history" or not _violation_ok(event):
        return codec.encode_checked(tenant, event, now)  # raises with the receiver's words
    key = (tenant, event.drone_id)
    subject = _subjects.get(key)
    if subject is None:
        if len(_subjects) > 4096:
            _subjects.clear()
        subject = _subjects[key] = codec.subject_for(tenant, event)
    codec.check(event, subject, now)
    data = codec.encode(event)
    if b"\\u0000" in data:  # NUL in a text field: the receivers refuse it, say so as they do
        return codec.encode_checked(tenant, event, now)
    return subject, data
