"""Small numba helpers shared by the bulk coders and the codecs' kernels.

Little-endian u32 access on uint8 buffers and a byte histogram; one copy for
``rans``, ``huffman`` and the weight packers (imports numba: load lazily).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def put_u32(buf, pos, v):
    buf[pos] = np.uint8(v & 0xFF)
    buf[pos + 1] = np.uint8((v >> 8) & 0xFF)
    buf[pos + 2] = np.uint8((v >> 16) & 0xFF)
    buf[pos + 3] = np.uint8((v >> 24) & 0xFF)


@njit(cache=True, nogil=True)
def get_u32(buf, pos):
    return (np.int64(buf[pos]) | (np.int64(buf[pos + 1]) << 8)
            | (np.int64(buf[pos + 2]) << 16) | (np.int64(buf[pos + 3]) << 24))


@njit(cache=True, nogil=True)
def histogram(sym, counts):
    """Add the symbol counts of uint8 ``sym`` into int64[256] ``counts``.

    Four sub-histograms, so runs of one symbol do not serialise on one counter.
    """
    n = sym.shape[0]
    h = np.zeros((4, 256), np.int64)
    n4 = n & ~3
    for i in range(0, n4, 4):
        h[0, sym[i]] += 1
        h[1, sym[i + 1]] += 1
        h[2, sym[i + 2]] += 1
        h[3, sym[i + 3]] += 1
    for i in range(n4, n):
        h[0, sym[i]] += 1
    for s in range(256):
        counts[s] += h[0, s] + h[1, s] + h[2, s] + h[3, s]
