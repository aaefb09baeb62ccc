"""The benches' size lists: what an analyst types is what is run."""

from __future__ import annotations

import argparse

import pytest
from bench.scale import at_sizes, sizes


def test_sizes_read_lists_and_suffixes_in_ascending_order() -> None:
    assert sizes("1M,100k") == [100_000, 1_000_000]
    assert sizes("100_000, 2.5k") == [2_500, 100_000]
    for bad in ("", "ten", "0", "-5"):
        with pytest.raises(argparse.ArgumentTypeError):
            sizes(bad)


def test_each_size_runs_alone_and_growth_is_largest_over_smallest() -> None:
    seen = []

    def run(one: argparse.Namespace) -> dict:
        seen.append(one.rows)
        return {"rate": {"per_s": 1000.0 / one.rows}}

    args = argparse.Namespace(rows=[10, 40], other="kept")
    report = at_sizes(args, "rows", run, ("rate.per_s", ("rate", "missing")))
    assert seen == [10, 40] and args.rows == [10, 40]
    assert report["growth_largest_over_smallest"] == {"rate.per_s": 0.25, "rate.missing": None}
    assert report["by_size"]["40"] == {"rate": {"per_s": 25.0}}
