"""The publisher's window: a slot released goes to one waiter, in order, never lost."""

from __future__ import annotations

import asyncio

from prestacop.adapters.publisher import _Window


async def test_a_full_window_lets_waiters_in_one_by_one_in_arrival_order() -> None:
    window = _Window(1)
    await window.acquire()
    order: list[int] = []

    async def wait(i: int) -> None:
        await window.acquire()
        order.append(i)

    waiters = [asyncio.create_task(wait(i)) for i in range(3)]
    await asyncio.sleep(0)
    assert order == []
    for expected in ([0], [0, 1], [0, 1, 2]):
        window.release()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert order == expected
    await asyncio.gather(*waiters)


async def test_a_cancelled_waiter_does_not_take_a_slot_with_it() -> None:
    window = _Window(1)
    await window.acquire()
    gone = asyncio.create_task(window.acquire())
    await asyncio.sleep(0)
    window.release()  # the slot is handed to `gone`...
    gone.cancel()  # ...which is cancelled before it runs: the slot must come back
    await asyncio.gather(gone, return_exceptions=True)
    await asyncio.wait_for(window.acquire(), timeout=1)
