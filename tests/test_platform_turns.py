"""Turns (pynode/platform/turns.py): a tab's onnxruntime-web calls one at a time, in arrival order."""

import asyncio

from pynode.platform.turns import Turns


async def test_calls_take_turns_in_arrival_order_and_never_overlap():
    turns, inside, log = Turns(), [], []

    async def call(name: str) -> None:
        await turns.take()
        try:
            inside.append(name)
            assert inside == [name], inside  # nobody else in the call meanwhile
            await asyncio.sleep(0)  # suspended midway, as a tab's run_sync suspends the task's stack
            await asyncio.sleep(0)
            log.append(name)
        finally:
            inside.remove(name)
            turns.done()

    await asyncio.gather(*(call(n) for n in "abcd"))
    assert log == list("abcd") and not turns.busy


async def test_a_free_turn_is_taken_at_once_and_a_held_one_is_waited_for():
    turns = Turns()
    assert turns.ask() is None and turns.busy  # no trip through the event loop when free
    waiting = turns.ask()
    assert waiting is not None and not waiting.done()
    turns.done()
    assert waiting.done() and turns.busy  # handed over, not freed
    turns.done()
    assert not turns.busy


async def test_a_cancelled_waiter_gives_up_its_place():
    turns = Turns()
    turns.ask()
    gone = asyncio.ensure_future(turns.take())
    after = asyncio.ensure_future(turns.take())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    turns.done()  # the turn passes over the cancelled waiter
    await asyncio.wait_for(after, 1)
    assert turns.busy
    turns.done()
    assert not turns.busy


async def test_a_waiter_cancelled_as_the_turn_reaches_it_passes_it_on():
    turns = Turns()
    turns.ask()
    first = asyncio.ensure_future(turns.take())
    second = asyncio.ensure_future(turns.take())
    await asyncio.sleep(0)
    turns.done()  # the turn is first's now ...
    first.cancel()  # ... but first is cancelled before it runs again
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 1)  # first passed it on
    turns.done()
    assert not turns.busy
