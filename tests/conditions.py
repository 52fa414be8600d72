"""Waiting on a threading.Condition for a predicate, with a deadline: the agent double and
the real-Mesos scheduler both block a test this way."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def wait_for(
    cond: threading.Condition, predicate: Callable[[], bool], timeout: float, poll: float
) -> None:
    """Until ``predicate()`` holds (re-checked whenever ``cond`` is notified, and every
    ``poll`` seconds); AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    with cond:
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"condition not met within {timeout}s")
            cond.wait(min(left, poll))
