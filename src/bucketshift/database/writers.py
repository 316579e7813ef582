"""Writing batches on connections of their own while the caller's thread reads the next ones.

A batch is read and computed on the caller's connection; its write (one transaction) runs on
one of the writer connections in a worker thread.  psycopg waits for the server without the
GIL, so the database writes earlier batches while Python reads and computes the next: on a
small machine two writers keep both cores busy.  Batches must hold disjoint rows, so writers
never wait for each other.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from queue import SimpleQueue
from typing import Any, TypeVar

import psycopg

__all__ = ["write_batches"]

Conn = psycopg.Connection[tuple[Any, ...]]
B = TypeVar("B")
R = TypeVar("R")


def write_batches(
    batches: Iterable[B], write: Callable[[Conn, B], R], writers: Sequence[Conn], *, sleep: float = 0.0
) -> Iterator[R]:
    """Each batch's `write` result, in the batches' order, as the writes finish.

    `sleep` asks to be gentle with a busy database: one batch in flight at a time, and a pause
    after each.
    """
    if not writers:
        raise ValueError("writing needs at least one writer connection")
    writers = writers[:1] if sleep else writers
    free: SimpleQueue[Conn] = SimpleQueue()
    for writer in writers:
        free.put(writer)

    def run(batch: B) -> R:
        writer = free.get()  # the pool runs this only while one of its writers is free
        try:
            result = write(writer, batch)
        finally:
            free.put(writer)
        if sleep:
            time.sleep(sleep)
        return result

    with ThreadPoolExecutor(max_workers=len(writers), thread_name_prefix="bucketshift-writer") as pool:
        pending: deque[Future[R]] = deque()
        try:
            for batch in batches:
                if len(pending) == len(writers):  # reading further ahead measured no faster
                    yield pending.popleft().result()
                pending.append(pool.submit(run, batch))
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
