"""numba kernels of the x86 branch-target transform (see x86.py for the design)."""

from __future__ import annotations

import numpy as np
from numba import njit

MASK25 = (1 << 25) - 1
SIGN25 = 1 << 24


@njit(cache=True, nogil=True, inline="always")
def _convertible(buf, k):
    """The rel32 at buf[k:k+4] is a 25-bit signed value (its top byte is 00 or FF)."""
    top = buf[k + 3]
    return top == 0 or top == 255


@njit(cache=True, nogil=True, inline="always")
def _convert(buf, k, nxt, sign):
    """rel32 <-> absolute target, modulo 2**25, sign-extended (a bijection of 25-bit values)."""
    v = np.int64(buf[k]) | (np.int64(buf[k + 1]) << 8) | (np.int64(buf[k + 2]) << 16) \
        | (np.int64(buf[k + 3]) << 24)
    v = (v + sign * nxt) & MASK25
    if v & SIGN25:
        v |= np.int64(0xFE000000)
    buf[k] = v & 255
    buf[k + 1] = (v >> 8) & 255
    buf[k + 2] = (v >> 16) & 255
    buf[k + 3] = (v >> 24) & 255


@njit(cache=True, nogil=True)
def x86_kernel(buf, start, end, base, sign, jcc, mask):
    """Transform buf[start:end] in place (sign +1 forward, -1 inverse).

    ``base`` is the address of buf[start].  When ``mask`` has a length, the bytes of
    every converted operand are flagged in it (1 = E8/E9 operand, 2 = Jcc operand).
    Returns the number of converted operands.
    """
    i = start
    n = 0
    flag = mask.shape[0] > 0
    while i < end:
        c = buf[i]
        if c == 0xE8 or c == 0xE9:
            if i + 5 > end:
                break
            if _convertible(buf, i + 1):
                _convert(buf, i + 1, base + (i - start) + 5, sign)
                if flag:
                    for j in range(i + 1, i + 5):
                        mask[j] = 1
                n += 1
                i += 5
            else:
                # the decision read byte i+4: no operand may cover it, so the next
                # candidate opcode is i+4 (the inverse then sees the same byte)
                i += 4
            continue
        if jcc and c == 0x0F and i + 1 < end and (buf[i + 1] & 0xF0) == 0x80:
            if i + 6 > end:
                break
            if _convertible(buf, i + 2):
                _convert(buf, i + 2, base + (i - start) + 6, sign)
                if flag:
                    for j in range(i + 2, i + 6):
                        mask[j] = 2
                n += 1
                i += 6
            else:
                i += 5  # byte i+5 was read: same reasoning
            continue
        i += 1
    return n
