"""Running lookups across event loops and threads: a private loop for a synchronous call,
and waiting for a lookup that another loop or thread owns."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["run_private", "wait_for"]

_T = TypeVar("_T")


async def wait_for(shared: concurrent.futures.Future[_T]) -> _T:
    """Await a lookup owned by any loop or thread.

    Not asyncio.wrap_future: cancelling its future cancels the shared one, which others await,
    and once this loop is closed its wake-up call would fail in the owner's thread. Here a
    cancelled waiter only stops waiting.
    """
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake(_: object) -> None:
        with contextlib.suppress(RuntimeError):  # this loop is closed: nobody left to wake
            loop.call_soon_threadsafe(_set_done, woken)

    shared.add_done_callback(wake)
    await woken
    return shared.result()


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def run_private(make: Callable[[], Awaitable[_T]]) -> _T:
    # Not asyncio.run(): that would replace (and then unset) the thread's current event loop,
    # which a caller with a loop set but not running would find gone afterwards.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_as_coroutine(make))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


async def _as_coroutine(make: Callable[[], Awaitable[_T]]) -> _T:
    return await make()
