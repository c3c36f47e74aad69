"""The send slots (jobs.slots.Slots): at most N holders, waiters served in arrival order, a
slot handed to a waiter that is then cancelled passes on, and a cancelled waiter leaves none
behind -- the guarantees the send path's bound on unrecorded messages rests on."""

from __future__ import annotations

import asyncio

import pytest

from reminders.jobs.slots import Slots


def test_at_most_n_hold_a_slot_and_waiters_are_served_in_arrival_order():
    async def main() -> tuple[int, list[int]]:
        slots, holding, most, order = Slots(3), 0, 0, []

        async def one(i: int) -> None:
            nonlocal holding, most
            async with slots:
                order.append(i)
                holding += 1
                most = max(most, holding)
                await asyncio.sleep(0.001 * (i % 4))
                holding -= 1

        await asyncio.gather(*(one(i) for i in range(500)))
        assert slots.free == 3 and slots.waiting == 0
        return most, order

    most, order = asyncio.run(main())
    assert most == 3
    assert order == list(range(500))


def test_a_release_of_many_at_once_wakes_exactly_as_many():
    async def main() -> None:
        slots = Slots(200)
        for _ in range(200):
            await slots.acquire()
        woken: list[int] = []

        async def waiter(i: int) -> None:
            await slots.acquire()
            woken.append(i)

        tasks = [asyncio.create_task(waiter(i)) for i in range(1000)]
        await asyncio.sleep(0)
        for _ in range(150):  # a group commit freeing 150 slots in one go
            slots.release()
        await asyncio.sleep(0)
        assert woken == list(range(150))
        assert slots.free == 0 and slots.waiting == 850
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert slots.waiting == 0

    asyncio.run(main())


def test_a_slot_handed_to_a_cancelled_waiter_passes_on_and_a_cancelled_waiter_leaves_nothing():
    async def main() -> None:
        slots = Slots(1)
        await slots.acquire()
        first = asyncio.create_task(slots.acquire())
        second = asyncio.create_task(slots.acquire())
        third = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0)
        third.cancel()  # still waiting: simply gone
        await asyncio.sleep(0)
        slots.release()  # handed to `first` ...
        first.cancel()  # ... which is cancelled before it runs: the slot goes to `second`
        with pytest.raises(asyncio.CancelledError):
            await first
        await asyncio.wait_for(second, 1)
        assert third.cancelled()
        assert slots.free == 0 and slots.waiting == 0
        slots.release()
        assert slots.free == 1

    asyncio.run(main())


def test_a_gate_needs_a_slot():
    with pytest.raises(ValueError):
        Slots(0)
