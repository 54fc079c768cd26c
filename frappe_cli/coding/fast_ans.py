"""A bit-exact numba encoder for constriction's stack ANS over indexed categorical rows.

constriction (the ``constriction_ans`` adapter) wants one float32 frequency row
per symbol; a codec that codes millions of symbols under a few hundred fixed
integer rows (the image codec's context buckets) spends most of its encode time
building those rows.  :class:`IndexedEncoder` quantises each row once, the way
constriction 0.5's ``Categorical(perfect=False)`` does, and encodes with a numba
kernel that writes the same words.  It proves itself per table before use (a probe
stream through every (row, symbol) pair must be byte-identical to constriction's);
otherwise ``ok`` is False and the caller keeps constriction: the bitstream never
depends on which path wrote it.  ``decoder_state`` and ``decode_row`` are the
inverse, for numba kernels that decode symbols whose rows they compute themselves
(the image codec's contexts); they read the same words as constriction's decoder,
with the same tables (those that passed the probe).
"""

from __future__ import annotations

import struct

import numpy as np

from frappe_cli.jit import njit

ANS_PRECISION = 24


@njit(cache=True, nogil=True)
def encode_rows(sym, row, cdf, words):
    """Stack-ANS encode (32-bit words, 64-bit state, 24-bit probabilities) of symbol
    i under quantised CDF row ``row[i]``, last symbol first, so a decoder reads them
    in order.  cdf: (rows, k + 1) int64, cdf[r, 0] = 0, cdf[r, k] = 2**24.
    Writes the compressed words (bulk, then the state's low and, if non-zero, high
    word) into ``words`` and returns their count; -1 if a symbol is out of range."""
    state = np.uint64(0)
    nw = 0
    sh = np.uint64(64 - ANS_PRECISION)
    prec = np.uint64(ANS_PRECISION)
    w32 = np.uint64(32)
    mask = np.uint64(0xFFFFFFFF)
    k = cdf.shape[1] - 1
    for t in range(sym.shape[0] - 1, -1, -1):
        s = sym[t]
        r = row[t]
        if s < 0 or s >= k:
            return -1
        lo = np.uint64(cdf[r, s])
        p = np.uint64(cdf[r, s + 1]) - lo
        if (state >> sh) >= p:
            words[nw] = np.uint32(state & mask)
            nw += 1
            state = state >> w32
        state = ((state // p) << prec) | (state % p + lo)
    if state != np.uint64(0):
        words[nw] = np.uint32(state & mask)
        nw += 1
        hi = state >> w32
        if hi != np.uint64(0):
            words[nw] = np.uint32(hi)
            nw += 1
    return nw


def decoder_state(words: np.ndarray, expected: int) -> np.ndarray:
    """[state, words left, symbols left] of a stack-ANS decoder over one stream's
    ``words`` (``constriction_ans.stream_words``), as constriction starts one: the
    last word (never zero) and, below it, the next one make the state.  The state's
    bits live in an int64 that ``decode_row`` reads as uint64."""
    from frappe_cli.errors import CorruptError

    left = int(words.size)
    state = 0
    if left:
        if words[-1] == 0:
            raise CorruptError("Compressed data is corrupt (invalid entropy-coded stream)")
        left -= 1
        state = int(words[left])
        if left:
            left -= 1
            state = (state << 32) | int(words[left])
    st = np.zeros(3, np.int64)
    st[0] = np.array(state, np.uint64).view(np.int64)
    st[1], st[2] = left, expected
    return st


@njit(cache=True, nogil=True)
def decode_row(cdf, r, st, words):
    """Pop one symbol coded under quantised-CDF row ``r`` (``encode_rows``' inverse)
    from the decoder ``st`` = [state, words left, ...] over ``words``, refilling the
    state from the words when it falls below 32 bits.  The caller keeps count of
    the symbols and checks ``r``."""
    state = np.uint64(st[0])
    q = state & np.uint64((1 << ANS_PRECISION) - 1)
    lo = 0
    hi = cdf.shape[1] - 1
    while hi - lo > 1:  # cdf[r, lo] <= q < cdf[r, hi]
        mid = (lo + hi) >> 1
        if np.uint64(cdf[r, mid]) <= q:
            lo = mid
        else:
            hi = mid
    c0 = np.uint64(cdf[r, lo])
    state = (np.uint64(cdf[r, lo + 1]) - c0) * (state >> np.uint64(ANS_PRECISION)) + (q - c0)
    if state < np.uint64(1 << 32) and st[1] > 0:
        st[1] -= 1
        state = (state << np.uint64(32)) | np.uint64(words[st[1]])
    st[0] = np.int64(state)
    return lo


def quantised_cdf(freqs: np.ndarray) -> np.ndarray:
    """The 24-bit CDFs constriction 0.5's ``Categorical(perfect=False)`` builds from
    integer frequency rows given as float32 (its fast "leaky" quantisation, float32
    arithmetic): cdf[i] = trunc(c_i * ((2**24 - k) / total)) + i, c_i the float32
    partial sums, cdf[k] = 2**24.  (rows, k) int -> (rows, k + 1) int64."""
    f = np.asarray(freqs, np.float32)
    rows, k = f.shape
    free = np.float32((1 << 24) - k)
    cdf = np.empty((rows, k + 1), np.int64)
    for r in range(rows):
        norm = np.float32(0.0)
        for v in f[r]:
            norm = np.float32(norm + v)
        scale = np.float32(free / norm)
        cum = np.zeros(k, np.float32)
        cum[1:] = np.cumsum(f[r][:-1], dtype=np.float32)  # integers < 2**24: exact
        cdf[r, :k] = (cum * scale).astype(np.float32).astype(np.int64) + np.arange(k)
        cdf[r, k] = 1 << 24
    return cdf


class IndexedEncoder:
    """Bit-exact replacement of ``ans.Encoder`` for indexed categorical rows.

    Encodes with a numba stack-ANS kernel from quantised CDFs instead of handing
    constriction one float32 frequency row per symbol.  Built per model, it proves
    itself first: a probe stream that uses every (row, symbol) pair of both tables
    must come out byte-identical to constriction's; otherwise ``ok`` is False and
    the caller keeps using constriction (the bitstream never depends on the path)."""

    def __init__(self, freqs: np.ndarray, esc_freqs: np.ndarray):
        self.cdf = quantised_cdf(freqs)
        self.esc_cdf = quantised_cdf(esc_freqs)
        self.ok = False
        try:
            self.ok = all(self._probe(c, f) for c, f in ((self.cdf, freqs),
                                                          (self.esc_cdf, esc_freqs)))
        except Exception:  # noqa: BLE001 - any failure: constriction stays in charge
            self.ok = False

    def _probe(self, cdf: np.ndarray, freqs: np.ndarray) -> bool:
        from frappe_cli.coding import constriction_ans as ans

        rows, k = freqs.shape
        rng = np.random.default_rng(12345)
        sym = np.tile(np.arange(k, dtype=np.int32), rows)
        row = np.repeat(np.arange(rows, dtype=np.int64), k)
        order = rng.permutation(sym.size)
        # the pairs twice (shuffled and in order), plus runs of likely symbols that
        # push the state through long stretches without renormalisation
        likely = np.argmax(freqs, axis=1).astype(np.int32)
        run_r = np.repeat(np.arange(rows, dtype=np.int64), 64)
        sym = np.concatenate([sym[order], sym, likely[run_r]])
        row = np.concatenate([row[order], row, run_r])
        ref = ans.Encoder("ans")
        ref.categorical_indexed(sym, ans.FreqTable(freqs), row)
        return self.stream(sym, row, cdf) == ref.finish()

    @staticmethod
    def stream(sym: np.ndarray, row: np.ndarray, cdf: np.ndarray) -> bytes:
        """One constriction_ans stream: u32 symbol count | u32 word count | words."""
        words = np.empty(sym.size + 2, np.uint32)
        nw = encode_rows(np.ascontiguousarray(sym, np.int32),
                                np.ascontiguousarray(row, np.int64), cdf, words)
        if nw < 0:
            raise ValueError("symbol outside the model's support")
        return struct.pack("<II", sym.size, nw) + words[:nw].astype("<u4").tobytes()
