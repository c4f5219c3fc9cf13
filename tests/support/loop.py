"""An asyncio event loop on a background thread, for sync tests that drive async code.

pytest-asyncio is not a dependency. Session fixtures such as the registry need
one loop that outlives a single test, because the supervisor's monitor task and
child process belong to the loop that started them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# Seconds a coroutine run through LoopThread.run may take by default.
DEFAULT_TIMEOUT = 120.0


class LoopThread:
    """A running event loop on a daemon thread, which ``run()`` submits coroutines to."""

    def __init__(self, name: str = "test-event-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = DEFAULT_TIMEOUT) -> T:
        """Run ``coroutine`` on the loop and return its result or raise its exception."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    def close(self) -> None:
        """Cancel the tasks left on the loop, stop it and join the thread."""
        if self._loop.is_closed():
            return
        self.run(self._cancel_remaining_tasks())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def __enter__(self) -> LoopThread:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @staticmethod
    async def _cancel_remaining_tasks() -> None:
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
