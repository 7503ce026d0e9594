"""A worker pool with a bounded queue: beyond capacity it refuses at once instead of piling up."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")


class Overloaded(Exception):
    """Every worker is busy and the queue is full."""


class StartTimeout(Overloaded):
    """A queued job could not start before its deadline; it was taken off the queue."""


class BoundedPool:
    """`workers` threads run jobs; at most `max_queue` more wait. Extra submissions raise `Overloaded`.

    Blocking, CPU-bound work (model generation, DuckDB queries) runs here so the event loop stays
    free to answer health checks and to refuse excess requests quickly.
    """

    def __init__(self, name: str, *, workers: int, max_queue: int):
        if workers < 1 or max_queue < 0:
            raise ValueError(f"{name}: workers must be >= 1 and max_queue >= 0")
        self.name = name
        self.workers = workers
        self.capacity = workers + max_queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"sqltune-{name}")
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Jobs running or waiting."""
        return self._in_flight

    def submit(self, fn: Callable[[], T]) -> "Future[T]":
        with self._lock:
            if self._in_flight >= self.capacity:
                raise Overloaded(f"{self.name}: {self._in_flight} jobs in flight (capacity {self.capacity})")
            self._in_flight += 1
        try:
            future = self._executor.submit(fn)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        return future

    async def run(self, fn: Callable[[], T], *, start_within: float | None = None) -> T:
        """Run `fn` in the pool and await its result. Raises `Overloaded` at once when the queue is
        full, and `StartTimeout` when `fn` has not started within `start_within` seconds (it is
        then cancelled, so it never runs)."""
        future = self.submit(fn)
        waiting = asyncio.wrap_future(future)
        if start_within is None:
            return await waiting
        done, _ = await asyncio.wait({waiting}, timeout=start_within)
        if not done and future.cancel():  # still queued: it never starts, its slot is freed
            raise StartTimeout(f"{self.name}: could not start within {start_within:g} s")
        return await waiting  # finished, or started in time and running

    def _release(self, _future: object) -> None:
        with self._lock:
            self._in_flight -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
