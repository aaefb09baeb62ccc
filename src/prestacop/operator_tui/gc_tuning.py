"""Garbage-collector tuning for a process that is the console: process-wide, so its own module."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Leave the objects of start-up (Textual, the replayed alerts) out of later collections.

    A full collection over them took 25-125 ms on a busy 2-core machine, holding the
    GIL and so the alert feed's thread; frozen, they are never scanned again. Only for
    a process that is the console (``launch.py``): ``gc.freeze`` is process-wide.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)  # fewer, still short, collections of the young
