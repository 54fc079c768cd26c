"""The benchmark harness's one clock: CPU (or wall) seconds, median of runs.

Every suite times through ``median_time`` so that "CPU time, median of N" means
the same thing in every table: the CPU time of this process (all its threads)
plus that of the child processes it waited for (external peers such as zpaq),
or wall time where a measurement is about elapsed time (thread scaling).
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable

TIMERS = ("cpu", "wall")


def cpu_seconds() -> float:
    """CPU seconds of this process (every thread) and of its waited-for children."""
    t = os.times()
    return time.process_time() + t.children_user + t.children_system


def clock(timer: str = "cpu") -> Callable[[], float]:
    """The clock a ``--timer`` value names: ``cpu`` (robust on a shared machine) or ``wall``."""
    if timer not in TIMERS:
        raise ValueError(f"unknown timer '{timer}' (known: {', '.join(TIMERS)})")
    return cpu_seconds if timer == "cpu" else time.perf_counter


def median_time(fn: Callable[[], Any], repeat: int = 1, timer: str = "cpu",
                runs: list[float] | None = None) -> tuple[float, Any]:
    """Call ``fn`` ``repeat`` times (at least once); return (median seconds, last result).

    ``runs``, when given, receives every run's seconds (the JSON keeps them).
    """
    now = clock(timer)
    times: list[float] = []
    out = None
    for _ in range(max(1, repeat)):
        t = now()
        out = fn()
        times.append(now() - t)
    if runs is not None:
        runs.extend(times)
    return statistics.median(times), out
