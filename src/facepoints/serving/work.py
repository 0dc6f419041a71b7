"""Image work in a bounded pool of threads whose slots are held until each thread really ends.

A thread cannot be killed. So a request that times out (or whose client leaves) does not give its
slot back when it stops waiting: the slot comes back when the thread finishes. The work is asked to
stop (``CancelToken``) and checks between its stages, so an abandoned request ends at the next
stage. New work therefore never runs beside abandoned work beyond ``size`` threads: it waits for a
slot, or is refused, and memory stays bounded by ``size`` images in flight.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import anyio

__all__ = ["CancelToken", "Cancelled", "ClientGone", "NoSlot", "WorkPool", "WorkTimeout"]

T = TypeVar("T")


class NoSlot(Exception):
    """No processing slot became free within the wait allowed."""


class WorkTimeout(Exception):
    """The work took longer than allowed; it was asked to stop and keeps its slot until it has."""


class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


class Cancelled(Exception):
    """Raised inside work whose request has been abandoned (``CancelToken.check``)."""


class CancelToken:
    """Tells work running in a thread that nobody waits for its result any more."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the work should stop (called between stages)."""
        if self._event.is_set():
            raise Cancelled


class WorkPool:
    """``size`` threads behind ``size`` slots; make it inside the running event loop."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = anyio.Semaphore(size, max_value=size)  # max_value: a slot given back twice raises
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="facepoints-work")
        self._loop = asyncio.get_running_loop()

    @property
    def free(self) -> int:
        """Slots free now (a slot of abandoned work counts as taken until its thread ends)."""
        return self._slots.value

    async def run(
        self, work: Callable[[CancelToken], T], wait: float, timeout: float, gone: Callable[[], Awaitable[None]]
    ) -> T:
        """``work(token)`` in a thread: a slot is awaited for at most ``wait`` seconds (:class:`NoSlot`), then
        the result for at most ``timeout`` seconds (:class:`WorkTimeout`) or until ``gone()`` returns
        (:class:`ClientGone`). In those cases, and if this coroutine is cancelled, the token is cancelled."""
        with anyio.move_on_after(wait) as waiting:
            await self._slots.acquire()
        if waiting.cancelled_caught:
            raise NoSlot
        token = CancelToken()
        future = self._executor.submit(work, token)
        future.add_done_callback(self._give_back)
        result = asyncio.wrap_future(future)
        watcher = asyncio.ensure_future(gone())
        watcher.add_done_callback(_retrieve)
        try:
            done, _ = await asyncio.wait({result, watcher}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not result.done():
                token.cancel()
                result.add_done_callback(_retrieve)
        if result in done:
            return result.result()
        raise ClientGone if watcher in done else WorkTimeout

    def _give_back(self, _: Future) -> None:
        """Called in the worker thread when the work has ended: the slot goes back on the event loop."""
        try:
            self._loop.call_soon_threadsafe(self._slots.release)
        except RuntimeError:  # the event loop is closed: the service has stopped
            pass

    def close(self) -> None:
        """Stop accepting work; running threads finish on their own (they cannot be killed)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _retrieve(future: asyncio.Future) -> None:
    """Mark an abandoned future's exception as seen, so asyncio does not log it as never retrieved."""
    if not future.cancelled():
        future.exception()
