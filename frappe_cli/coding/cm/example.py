"""A minimal, complete model configuration of the CM engine (documentation and tests).

It models bytes with orders 0-4 and the match model, one mixer selected by the
partial byte and an order-1 APM.  A real configuration (the text codec, the
executable codec) has the same shape: a spec, one ``@njit`` loop that fills
``ctx`` per byte and calls ``code_byte``, and Python wrappers.
"""

from __future__ import annotations

import numpy as np

from frappe_cli.coding.cm.engine import (
    C_NCTX,
    SEL_C0,
    SEL_MATCH,
    SEL_NONE,
    code_byte,
    coder_finish,
    coder_start,
    decoder_overran,
    hash_combine,
    new_coder,
    new_model,
)
from frappe_cli.jit import njit

SPEC = {
    "hashed": 3,  # orders 2, 3, 4
    "hash_bits": 16,  # 64 KiB lines: 4 MiB
    "direct": [1, 256],  # order 0, order 1
    "mixers": [(1, SEL_C0), (1, SEL_MATCH)],
    "final": (1, SEL_NONE),
    "apms": [(256, 8)],  # order-1 SSE, half of the final probability
    "match_bits": 16,
    "match_min": 6,
}


@njit(cache=True, nogil=True)
def orders_code(buf, n, out, inp, enc, M, ac, rec, noise=0):
    """``noise`` != 0 (tests only) adds large pseudo-random offsets to the direct,
    selector and APM entries of ``ctx``: the engine must clamp them safely."""
    ctx = np.zeros(M.cfg[C_NCTX], dtype=np.int64)  # spec.n_ctx(SPEC) = 3 + 2 + 2 + 1 + 1
    coder_start(ac, out, inp, enc)
    c4 = np.int64(0)
    r = np.int64(noise)
    for pos in range(n):
        ctx[0] = hash_combine(2, c4 & 0xFFFF)
        ctx[1] = hash_combine(3, c4 & 0xFFFFFF)
        ctx[2] = hash_combine(4, c4)
        ctx[3] = 0  # order 0: one row
        ctx[4] = c4 & 255  # order 1
        ctx[5] = 0  # mixer 1: its only set (x 256 partial-byte sets)
        ctx[6] = 0  # mixer 2: its only set (x 16 match-length sets)
        ctx[7] = 0  # final mixer
        ctx[8] = c4 & 255  # APM row
        if noise:
            for j in range(3, 9):
                r = r * 6364136223846793005 + 1442695040888963407
                ctx[j] += (r >> 20) if (r & 1) else -(r >> 30)
        c = code_byte(M, ac, out, inp, buf, pos, ctx, enc, rec, pos * 8)
        if not enc and decoder_overran(ac, inp):
            return -2
        c4 = ((c4 << 8) | c) & 0xFFFFFFFF
    return coder_finish(ac, out, inp, enc)


def compress(data: bytes, rec=None, noise: int = 0) -> bytes:
    buf = np.frombuffer(data, dtype=np.uint8).copy()
    out = np.empty(2 * len(data) + 64, dtype=np.uint8)
    rec = np.zeros(0, dtype=np.int32) if rec is None else rec
    n = orders_code(buf, len(buf), out, out[:0], 1, new_model(SPEC), new_coder(), rec, noise)
    return out[:n].tobytes()


def decompress(payload: bytes, size: int, rec=None, noise: int = 0) -> bytes:
    buf = np.zeros(size, dtype=np.uint8)
    inp = np.frombuffer(payload, dtype=np.uint8).copy()
    rec = np.zeros(0, dtype=np.int32) if rec is None else rec
    r = orders_code(buf, size, np.zeros(1, dtype=np.uint8), inp, 0, new_model(SPEC), new_coder(),
                    rec, noise)
    if r != 0:
        raise ValueError("corrupt stream")
    return buf.tobytes()
