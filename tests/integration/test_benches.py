"""The benches still run, at two tiny sizes each: a bench is read months after it was
written, and two of them had stopped working unnoticed (a changed decoder signature, a
column made generated). The heavy ones (projections, replay, export, console start) run
their own code paths in integration tests; these are the quick ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

QUICK = {
    "ingest": ["--drones", "2", "--messages", "200,400", "--runs", "1"],
    "gate": ["--messages", "100,200", "--runs", "1"],
    "gate_images": ["--violations", "10,20", "--images", "5", "--image-kb", "4", "--runs", "1"],
    "tls_writes": ["--blocks", "2", "--messages", "200,400"],
    "statistics_view": ["--events", "500,1000", "--batch", "250"],
    "rebuild_floor": ["--events", "300,600", "--repeat", "1"],
}


@pytest.mark.parametrize("bench", sorted(QUICK))
def test_a_bench_prints_its_figures_at_each_size(bench: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{bench}", *QUICK[bench]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    sizes = [int(n) for n in next(a for a in QUICK[bench] if "," in a).split(",")]
    assert report["sizes"] == sizes
    assert set(report["by_size"]) == {str(s) for s in sizes}
    grew = report["growth_largest_over_smallest"]
    assert grew and any(isinstance(v, float) for v in grew.values()), grew
