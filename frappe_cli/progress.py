"""Progress inside a block: coders that run for seconds per block register the
array their kernel writes its position into, and the CLI's progress bar polls it.

A kernel stores the index of the byte it is coding in one int64 slot (the CM
engine's ``PROGRESS`` slot of its coder state); reading it from another thread is
a plain memory load, so neither the kernel nor the bitstream is affected.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_live: dict[int, tuple[object, int]] = {}


@contextmanager
def tracking(state, slot: int) -> Iterator[None]:
    """Count ``state[slot]`` (bytes coded so far in a block) while the block runs."""
    key = id(state)
    with _lock:
        _live[key] = (state, slot)
    try:
        yield
    finally:
        with _lock:
            _live.pop(key, None)


def live_bytes() -> int:
    """Bytes coded so far in the blocks that are being coded now."""
    with _lock:
        items = list(_live.values())
    return sum(int(state[slot]) for state, slot in items)  # type: ignore[index]
