"""The shared numba binary arithmetic coder for bitwise context-mixing models.

A 32-bit carry-less binary arithmetic coder (the lpaq/paq family's design,
written here from its description): the interval ``[x1, x2]`` lives in two
32-bit integers; a bit with probability ``p`` (P(bit = 1) in units of
``1/65536``, 16-bit precision) splits it at

    xmid = x1 + (r >> 16) * p + (((r & 0xFFFF) * p) >> 16),   r = x2 - x1

bit 1 keeps ``[x1, xmid]``, bit 0 keeps ``[xmid + 1, x2]``.  While the top
bytes of ``x1`` and ``x2`` agree that byte is final: it is written and both
ends shift left by 8 (``x2`` shifting in ones).  ``flush`` writes the top byte
of ``x1`` only; the decoder reads ``0xFF`` for every byte past the end of its
input, which lands inside the final interval, so nothing else is needed.

Everything is integer arithmetic (int64 holding 32-bit values), so encoder and
decoder agree on every machine.  ``p`` must lie in ``[1, 65535]``; callers
clamp (``clamp_p16``).

State lives in a small int64 array (``new_state``) and the output in a
preallocated uint8 buffer, so the encode and decode loops stay inside the
caller's ``@njit`` function: ``encode_bit`` / ``decode_bit`` are tiny and get
inlined.  Writing is bounds-safe (past the end of ``out`` the byte is dropped and
``state[OVERFLOW]`` is set: the caller then stores its block another way);
reading is bounds-safe (past the end of ``inp`` a constant ``0xFF``).

Layout of the state array:
``X1, X2`` interval ends; ``X`` the decoder's code value; ``POS`` next byte
to write (encoder) or read (decoder); ``OVERFLOW`` 1 when the encoder ran out
of output space.
"""

from __future__ import annotations

import numpy as np

from frappe_cli.jit import njit

X1, X2, X, POS, OVERFLOW = 0, 1, 2, 3, 4
STATE_SIZE = 5
FINAL_OVERRUN = 3
P_BITS = 16
P_ONE = 1 << P_BITS
MASK32 = 0xFFFFFFFF


def new_state() -> np.ndarray:
    """A fresh coder state (use ``init_encoder`` / ``init_decoder`` on it)."""
    return np.zeros(STATE_SIZE, dtype=np.int64)


@njit(cache=True, nogil=True)
def clamp_p16(p):
    """Clamp a 16-bit probability of a one bit into the coder's range [1, 65535]."""
    if p < 1:
        return 1
    if p > 65535:
        return 65535
    return p


@njit(cache=True, nogil=True)
def init_encoder(st):
    st[X1] = 0
    st[X2] = MASK32
    st[X] = 0
    st[POS] = 0
    st[OVERFLOW] = 0


@njit(cache=True, nogil=True)
def encode_bit(st, out, p, bit):
    """Code ``bit`` (0/1) with P(1) = p / 65536, p in [1, 65535]."""
    x1 = st[X1]
    x2 = st[X2]
    r = x2 - x1
    xmid = x1 + (r >> 16) * p + (((r & 0xFFFF) * p) >> 16)
    if bit:
        x2 = xmid
    else:
        x1 = xmid + 1
    while ((x1 ^ x2) & 0xFF000000) == 0:
        pos = st[POS]
        if pos < out.shape[0]:
            out[pos] = x2 >> 24
            st[POS] = pos + 1
        else:
            st[OVERFLOW] = 1
        x1 = (x1 << 8) & MASK32
        x2 = ((x2 << 8) & MASK32) | 255
    st[X1] = x1
    st[X2] = x2


@njit(cache=True, nogil=True)
def flush(st, out):
    """Finish the stream; returns the number of bytes written to ``out``."""
    pos = st[POS]
    if pos < out.shape[0]:
        out[pos] = st[X1] >> 24
        st[POS] = pos + 1
    else:
        st[OVERFLOW] = 1
    return st[POS]


@njit(cache=True, nogil=True)
def init_decoder(st, inp):
    st[X1] = 0
    st[X2] = MASK32
    st[POS] = 0
    st[OVERFLOW] = 0
    x = 0
    n = inp.shape[0]
    for i in range(4):
        c = 255
        if i < n:
            c = inp[i]
        x = (x << 8) | c
    st[X] = x
    st[POS] = 4


@njit(cache=True, nogil=True)
def decode_bit(st, inp, p):
    """Decode one bit coded with P(1) = p / 65536."""
    x1 = st[X1]
    x2 = st[X2]
    x = st[X]
    r = x2 - x1
    xmid = x1 + (r >> 16) * p + (((r & 0xFFFF) * p) >> 16)
    if x <= xmid:
        bit = 1
        x2 = xmid
    else:
        bit = 0
        x1 = xmid + 1
    while ((x1 ^ x2) & 0xFF000000) == 0:
        x1 = (x1 << 8) & MASK32
        x2 = ((x2 << 8) & MASK32) | 255
        pos = st[POS]
        c = 255
        if pos < inp.shape[0]:
            c = inp[pos]
        st[POS] = pos + 1
        x = ((x << 8) & MASK32) | c
    st[X1] = x1
    st[X2] = x2
    st[X] = x
    return bit


@njit(cache=True, nogil=True)
def overrun(st, inp):
    """How many bytes the decoder read past the end of ``inp``.

    The decoder reads 4 bytes ahead and then one byte per byte the encoder
    wrote before its flush, so after the last bit of a sound stream exactly
    ``FINAL_OVERRUN`` (3); any other value means a corrupt or truncated
    stream (a cheap check decoders use besides the container's checksum).
    """
    extra = st[POS] - inp.shape[0]
    return extra if extra > 0 else 0


# ---------------------------------------------------------------------------------
# stand-alone loops (tests, throughput measurement, and a reference for callers)


@njit(cache=True, nogil=True)
def encode_bits(bits, probs, out):
    """Encode ``bits[i]`` with P(1) = ``probs[i]``/65536; returns bytes used (-1: overflow)."""
    st = np.zeros(STATE_SIZE, dtype=np.int64)
    init_encoder(st)
    for i in range(bits.shape[0]):
        encode_bit(st, out, clamp_p16(np.int64(probs[i])), bits[i])
    n = flush(st, out)
    if st[OVERFLOW]:
        return -1
    return n


@njit(cache=True, nogil=True)
def decode_bits(inp, probs, bits_out):
    st = np.zeros(STATE_SIZE, dtype=np.int64)
    init_decoder(st, inp)
    for i in range(bits_out.shape[0]):
        bits_out[i] = decode_bit(st, inp, clamp_p16(np.int64(probs[i])))
    return overrun(st, inp)


@njit(cache=True, nogil=True)
def _order0_bytes(data, out, enc, shift):
    """Adaptive order-0 bitwise model (256 contexts of a partial byte).

    Used by the throughput benchmark and the tests: it exercises the coder at
    realistic probabilities.  ``enc`` 1 encodes ``data`` into ``out`` (returns
    bytes written or -1 on overflow); 0 decodes ``out`` into ``data``.
    """
    t = np.full(256, 32768, dtype=np.int64)
    st = np.zeros(STATE_SIZE, dtype=np.int64)
    if enc:
        init_encoder(st)
    else:
        init_decoder(st, out)
    for i in range(data.shape[0]):
        c0 = 1
        c = np.int64(data[i]) if enc else 0
        for j in range(7, -1, -1):
            p = clamp_p16(t[c0])
            if enc:
                bit = (c >> j) & 1
                encode_bit(st, out, p, bit)
            else:
                bit = decode_bit(st, out, p)
            if bit:
                t[c0] += (65536 - t[c0]) >> shift
            else:
                t[c0] -= t[c0] >> shift
            c0 = (c0 << 1) | bit
        if not enc:
            data[i] = c0 & 255
    if enc:
        n = flush(st, out)
        return -1 if st[OVERFLOW] else n
    return overrun(st, out)


def order0_compress(data: bytes, shift: int = 4) -> bytes:
    """Order-0 adaptive binary coding of ``data`` (reference/benchmark helper)."""
    src = np.frombuffer(data, dtype=np.uint8)
    out = np.empty(len(data) * 2 + 16, dtype=np.uint8)
    n = _order0_bytes(src.copy(), out, 1, shift)
    if n < 0:  # pragma: no cover - cannot happen with this buffer size
        raise RuntimeError("order0_compress: output overflow")
    return out[:n].tobytes()


def order0_decompress(payload: bytes, size: int, shift: int = 4) -> bytes:
    dst = np.zeros(size, dtype=np.uint8)
    _order0_bytes(dst, np.frombuffer(payload, dtype=np.uint8).copy(), 0, shift)
    return dst.tobytes()
