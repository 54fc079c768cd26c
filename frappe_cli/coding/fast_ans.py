"""A bit-exact numba encoder for constriction's stack ANS over indexed categorical rows.

constriction (the ``constriction_ans`` adapter) wants one float32 frequency row
per symbol; a codec that codes millions of symbols under a few hundred fixed
integer rows (the image codec's context buckets) spends most of its encode time
building those rows.  :class:`IndexedEncoder` quantises each row once, the way
constriction 0.5's ``Categorical(perfect=False)`` does, and encodes with a numba
kernel that writes the same words.  It proves itself per table before use (a probe
stream through every (row, symbol) pair must be byte-identical to constriction's);
otherwise ``ok`` is False and the caller keeps constriction: the bitstream never
depends on which path wrote it.  Decoding always goes through constriction.
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
