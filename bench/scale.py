"""Every bench at two sizes or more: how a cost grows with the size is the figure that matters
(a bench at one size hides a cost that is flat at 100k and doubles at 1M).

A bench's size option takes a comma list (``--messages 100000,1000000``, ``100k,1M`` also
read); ``at_sizes`` runs the bench once per size and prints each size's figures under
``by_size``, with ``growth``: each chosen figure at the largest size over the smallest.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable, Sequence
from typing import Any

_SUFFIX = {"k": 1_000, "m": 1_000_000}


def sizes(text: str) -> list[int]:
    """``"100k,1M"`` -> ``[100000, 1000000]``, ascending, for argparse's ``type``."""
    out = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        if not part:
            continue
        scale = _SUFFIX.get(part[-1], 1)
        number = part[:-1] if part[-1] in _SUFFIX else part
        try:
            value = int(float(number) * scale)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not a size: {part!r} (e.g. 100000,1000000)"
            ) from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"a size must be positive: {part!r}")
        out.append(value)
    if not out:
        raise argparse.ArgumentTypeError("no size given")
    return sorted(out)


Path = str | tuple[str, ...]
"""A figure's place in a report: dotted keys, or a tuple of keys (when a key has a dot)."""


def figure(report: dict[str, Any], path: Path) -> float | None:
    """The number at ``path`` in a report, or None."""
    node: Any = report
    for key in path.split(".") if isinstance(path, str) else path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def at_sizes(
    args: argparse.Namespace,
    field: str,
    run: Callable[[argparse.Namespace], dict[str, Any]],
    growth: Sequence[Path] = (),
) -> dict[str, Any]:
    """``run`` once per size in ``args.<field>`` (a list), each with that one size."""
    chosen: list[int] = getattr(args, field)
    by_size: dict[str, dict[str, Any]] = {}
    for size in chosen:
        one = copy.copy(args)
        setattr(one, field, size)
        by_size[str(size)] = run(one)
    first, last = by_size[str(chosen[0])], by_size[str(chosen[-1])]
    grew: dict[str, float | None] = {}
    for path in growth:
        a, b = figure(first, path), figure(last, path)
        name = path if isinstance(path, str) else ".".join(path)
        grew[name] = round(b / a, 3) if a and b is not None else None
    return {
        "sizes": chosen,
        "growth_largest_over_smallest": grew,
        "by_size": by_size,
    }
