"""Constant tables of the context-mixing engine: bit-history states, stretch, squash.

Everything here is integer data computed from exact definitions, so encoder and
decoder build identical tables on every machine.

Bit-history states
------------------
A state summarises the bits seen in one context as a pair of counts
``(n0, n1)`` plus, for short mixed histories, the last bit.  On bit ``y``:
``n_y += 1``; if the opposite count exceeds 2 it is discounted to
``n // 2 + 1`` (old evidence fades when the context turns nondeterministic);
then the pair is bounded: the larger count may not exceed ``LIMITS[min(n0, n1)]``
(and both shrink while ``min >= len(LIMITS)``).  The last bit is kept while
both counts are positive and ``n0 + n1 <= LAST_BIT_UNTIL``.  State 0 is the
empty history.  The states are numbered in breadth-first order from state 0
(bit 0 explored before bit 1), which makes the numbering -- and so the
bitstream -- a pure function of the rules above.  253 states result.

``priority[s] = n0 + n1`` ranks hash-table slots for replacement.
``init_p[s]`` is the Krichevsky-Trofimov estimate ``(n1 + 1/2) / (n0 + n1 + 1)``
in 22-bit fixed point, the starting value of every state->probability map.

Stretch and squash
------------------
``squash(x) = 65536 / (1 + exp(-x / 256))`` for integer ``x`` in [-4095, 4095],
rounded to nearest and clamped to [1, 65535] (a 16-bit probability);
``stretch(p) = 256 * ln(q / (1 - q))`` with ``q = (p + 1/2) / 4096`` for a 12-bit
``p`` in [0, 4095], rounded to nearest and clamped to [-2047, 2047].  Model
inputs live in the stretch range; mixer outputs may reach +-4095 (probabilities
down to 1/65536 for very predictable data).  The tables
are computed with float64 (fast) and verified against a SHA-256 of the exact
values; if a platform's libm ever disagrees, they are recomputed with
``decimal`` (correctly rounded), which defines them.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

LIMITS = (60, 30, 16, 10, 6, 5)
LAST_BIT_UNTIL = 8
N_STATES = 253

STRETCH_MAX = 2047
SQUASH_MAX = 4095
SQUASH_SHA256 = "91879af53f2eccb39907b73a4d9501078f5ad2d73bde15386e46719106c537da"
STRETCH_SHA256 = "d02a7159abcf00bd1919aa962531d0f80b9bcae6fc5b84756ff24f09d7a465c6"


def _bound(n0: int, n1: int, last: int) -> tuple[int, int, int]:
    while min(n0, n1) >= len(LIMITS):
        n0 = (n0 + 1) // 2 if n0 > 1 else n0
        n1 = (n1 + 1) // 2 if n1 > 1 else n1
    lim = LIMITS[min(n0, n1)]
    n0, n1 = min(n0, lim), min(n1, lim)
    if not (n0 > 0 and n1 > 0 and n0 + n1 <= LAST_BIT_UNTIL):
        last = 2
    return n0, n1, last


def _step(s: tuple[int, int, int], y: int) -> tuple[int, int, int]:
    n0, n1, _ = s
    if y:
        n1 += 1
        if n0 > 2:
            n0 = n0 // 2 + 1
    else:
        n0 += 1
        if n1 > 2:
            n1 = n1 // 2 + 1
    return _bound(n0, n1, y)


@lru_cache(maxsize=None)
def state_tables() -> dict[str, np.ndarray]:
    """``next`` (uint8 [256, 2]), ``n0``, ``n1``, ``last``, ``priority``, ``init_p`` (int32)."""
    start = (0, 0, 2)
    index = {start: 0}
    order = [start]
    i = 0
    while i < len(order):
        s = order[i]
        i += 1
        for y in (0, 1):
            t = _step(s, y)
            if t not in index:
                index[t] = len(order)
                order.append(t)
    assert len(order) == N_STATES, len(order)
    nxt = np.zeros((256, 2), dtype=np.uint8)
    n0 = np.zeros(256, dtype=np.int32)
    n1 = np.zeros(256, dtype=np.int32)
    last = np.full(256, 2, dtype=np.int32)
    for k, s in enumerate(order):
        nxt[k, 0] = index[_step(s, 0)]
        nxt[k, 1] = index[_step(s, 1)]
        n0[k], n1[k], last[k] = s
    # unused numbers 253..255 behave like the empty state
    for k in range(N_STATES, 256):
        nxt[k] = nxt[0]
    prio = (n0 + n1).astype(np.int32)
    # KT estimate in 22 bits: (2 n1 + 1) / (2 (n0 + n1) + 2), rounded
    num = (2 * n1.astype(np.int64) + 1) << 22
    den = 2 * (n0.astype(np.int64) + n1) + 2
    init_p = ((2 * num + den) // (2 * den)).astype(np.int32)
    return {"next": nxt, "n0": n0, "n1": n1, "last": last, "priority": prio, "init_p": init_p}


def _squash_float() -> np.ndarray:
    import math

    out = np.empty(2 * SQUASH_MAX + 1, dtype=np.int32)
    for i, x in enumerate(range(-SQUASH_MAX, SQUASH_MAX + 1)):
        v = math.floor(65536.0 / (1.0 + math.exp(-x / 256.0)) + 0.5)
        out[i] = min(max(v, 1), 65535)
    return out


def _stretch_float() -> np.ndarray:
    import math

    out = np.empty(4096, dtype=np.int32)
    for p in range(4096):
        q = (p + 0.5) / 4096.0
        v = math.floor(256.0 * math.log(q / (1.0 - q)) + 0.5)
        out[p] = min(max(v, -STRETCH_MAX), STRETCH_MAX)
    return out


def _squash_exact() -> np.ndarray:
    from decimal import ROUND_HALF_UP, Decimal, localcontext

    out = np.empty(2 * SQUASH_MAX + 1, dtype=np.int32)
    with localcontext() as ctx:
        ctx.prec = 40
        for i, x in enumerate(range(-SQUASH_MAX, SQUASH_MAX + 1)):
            v = Decimal(65536) / (1 + (Decimal(-x) / 256).exp())
            v = int(v.to_integral_value(rounding=ROUND_HALF_UP))
            out[i] = min(max(v, 1), 65535)
    return out


def _stretch_exact() -> np.ndarray:
    from decimal import ROUND_HALF_UP, Decimal, localcontext

    out = np.empty(4096, dtype=np.int32)
    with localcontext() as ctx:
        ctx.prec = 40
        for p in range(4096):
            q = (Decimal(2 * p + 1)) / 8192
            v = (256 * (q / (1 - q)).ln()).to_integral_value(rounding=ROUND_HALF_UP)
            out[p] = min(max(int(v), -STRETCH_MAX), STRETCH_MAX)
    return out


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(a.astype("<i4").tobytes()).hexdigest()


@lru_cache(maxsize=None)
def squash_table() -> np.ndarray:
    """int32 [8191]: ``squash(x)`` at index ``x + 4095`` (16-bit probability)."""
    t = _squash_float()
    if _sha(t) != SQUASH_SHA256:
        t = _squash_exact()
        if _sha(t) != SQUASH_SHA256:  # pragma: no cover - would be a bug in this module
            raise RuntimeError("squash table does not match its definition")
    return t


@lru_cache(maxsize=None)
def stretch_table() -> np.ndarray:
    """int32 [4096]: ``stretch(p)`` of a 12-bit probability."""
    t = _stretch_float()
    if _sha(t) != STRETCH_SHA256:
        t = _stretch_exact()
        if _sha(t) != STRETCH_SHA256:  # pragma: no cover
            raise RuntimeError("stretch table does not match its definition")
    return t
