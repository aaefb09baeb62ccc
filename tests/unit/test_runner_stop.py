"""The runner's stop ends its tasks even when one of them loses a cancellation (nats-py's
``asyncio.wait_for`` can swallow one on 3.11, CPython gh-86296: the secured session hung)."""

from __future__ import annotations

import asyncio

import pytest

from prestacop.projections.runner import cancel_all

pytestmark = pytest.mark.timeout(30)


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again_until_it_ends() -> None:
    swallowed = 0

    async def deaf_loop() -> None:  # as Runner._monitor when a request ate its cancel
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1

    async def failing() -> None:
        raise RuntimeError("already failed")

    tasks = [asyncio.create_task(deaf_loop()), asyncio.create_task(failing())]
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_all(tasks), 10)
    assert swallowed == 1
    assert all(t.done() for t in tasks)
