"""One way to run bucketshift's asyncio work: on uvloop where it exists.

A copy spends most of its CPU in the event loop and socket calls; uvloop does the same work in
C for about half the cost, which leaves the machine's cores to the servers being copied
between.  Elsewhere (Windows) the standard loop runs the same code.

In the command line (`stop_on_sigterm`), SIGTERM (what a container stop or a pod eviction sends)
cancels the work as Ctrl-C does, so it unwinds: the manifest commits what was done and a worker
of a shared run gives back its claims at once, rather than dying mid-write and leaving them to
wait out their lease.  A signal handler is the process's, so the program opts in; a server
built on this loop (the emulator) keeps its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from bucketshift.errors import Stopped

__all__ = ["loop_factory", "run", "stop_on_sigterm"]

T = TypeVar("T")
_sigterm_stops = False


def stop_on_sigterm() -> None:
    """From now on, SIGTERM ends each `run` by cancelling its work and raising `Stopped`."""
    global _sigterm_stops
    _sigterm_stops = True


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on the fastest loop available (after `stop_on_sigterm`, SIGTERM raises
    `Stopped` once the work unwound)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(_stoppable(main) if _sigterm_stops else main)


async def _stoppable(main: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    terminated = False

    def terminate() -> None:
        nonlocal terminated
        terminated = True
        if task is not None:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGTERM, terminate)
        handled = True
    except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
        handled = False
    try:
        return await main
    except asyncio.CancelledError:
        if terminated:
            raise Stopped("stopped by SIGTERM; what was done is recorded, run the same command to go on") from None
        raise
    finally:
        if handled:
            with contextlib.suppress(RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGTERM)
