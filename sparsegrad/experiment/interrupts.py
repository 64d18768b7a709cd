"""Ctrl-C, SIGTERM and SIGHUP as one KeyboardInterrupt, held back where stopping would leave things half done."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class _Interrupts:
    held = 0  # depth of `held_interrupts` blocks
    pending: Callable[[], None] | None = None  # what a signal that arrived while held does, once released


def when_released(action: Callable[[], None]) -> None:
    """What a signal does (`action()`, which raises): now, or when the outermost held block ends."""
    if _Interrupts.held:
        _Interrupts.pending = action
        return
    action()


def _on_signal(signum: int, frame: object) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    when_released(interrupt)


@contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """Inside this block SIGTERM and SIGHUP (the terminal closed) end the program as Ctrl-C does.

    SIGINT gets the same handler (unless it is ignored, as for a background job), so
    that `held_interrupts` can hold both back. Outside the main thread: no change.
    """
    wanted = [signal.SIGTERM, signal.SIGHUP]
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        wanted.append(signal.SIGINT)
    previous = {}
    try:
        for signum in wanted:
            previous[signum] = signal.signal(signum, _on_signal)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def held_interrupts() -> Iterator[None]:
    """Let the block finish before a Ctrl-C or SIGTERM (or SLURM's USR2, slurm.py) that arrives inside it takes effect.

    Used where an interruption would leave things half done: the end of an epoch
    (checkpoint + metrics) and recording a run's outcome.
    """
    _Interrupts.held += 1
    try:
        yield
    finally:
        _Interrupts.held -= 1
    if not _Interrupts.held and _Interrupts.pending is not None:
        action, _Interrupts.pending = _Interrupts.pending, None
        action()

