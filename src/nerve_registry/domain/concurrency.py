"""Bounded concurrency for fan-out over registry requests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def map_bounded(
    function: Callable[[T], Awaitable[R]], items: Iterable[T], limit: int
) -> list[R]:
    """Apply ``function`` to every item with at most ``limit`` calls in flight; keep the order.

    The first exception cancels the calls still running and propagates.
    """
    semaphore = asyncio.Semaphore(max(1, limit))

    async def call(item: T) -> R:
        async with semaphore:
            return await function(item)

    tasks = [asyncio.ensure_future(call(item)) for item in items]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class Limiter:
    """A shared cap on registry requests in flight, held only around single requests.

    Nested fan-outs (an index, then its children, then their blobs) all take
    slots from one limiter; because no slot is held while waiting for other
    tasks, nesting cannot deadlock.
    """

    def __init__(self, limit: int) -> None:
        self._semaphore = asyncio.Semaphore(max(1, limit))

    async def run(self, call: Callable[[], Awaitable[R]]) -> R:
        async with self._semaphore:
            return await call()
