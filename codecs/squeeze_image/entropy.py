"""Latent entropy coding: the integer causal context model driving constriction.

Every channel k < n is coded in order, in wavefront order (wave t = 2i + j).
A symbol's model is row ``bucket`` of channel k's frequency table, where the
bucket and the predicted mean m come from already decoded values only
(``kernels._ctx_at``): W, WW, N, NW, NE, NN and the three previous channels at
the same place.  The coded symbol is the residual r = q - m (clipped to an escape
symbol beyond +-K, whose magnitude goes to a second stream).  All of it is
integer arithmetic, so encoder and decoder agree on every machine.

The encoder codes all channels with one vectorised constriction call per
stream; the decoder needs the earlier waves first, so it decodes one wave per
call (vectorised over the wave).
"""

from __future__ import annotations

import numpy as np

from frappe_cli.errors import CorruptError

ESC_LEN = 4096  # escape magnitudes 0..4095 (at most 2 * 2032 - 21), sent as e >> 6, e & 63
ESC_SPLIT = 64

D_ONE = 256  # quantisation step D / 256
# the closed-loop encoder's rounding (quantise): 0.1 was measured best at every rate
# from 0.03 to 0.8 bpp on the held-out CID22 photographs (+0.0..+0.3 dB at equal
# rate, BENCHMARKS.md section 5); the decoder does not know or care
DEADZONE = 0.1
D_MIN, D_MAX = 16, 2048  # step 1/16 .. 8


def step_c0(model, k: int, D: int) -> int:
    """Base activity of channel k at step D (integer division: exact everywhere)."""
    return (int(model.ctx_c0[k]) * D_ONE) // D


def qlimit(D: int) -> int:
    """Largest |q| at step D: y in [-127, 127] -> round(y * 256 / D) (2032 at D = 16)."""
    return (127 * D_ONE + D // 2) // D


def quantise(y: np.ndarray, D: int, deadzone: float = 0.0) -> np.ndarray:
    """q = round(y / (D / 256)), clipped to +-qlimit(D) (encoder only).  A lazy
    closed-loop channel (model.ClosedChannel) quantises itself.

    ``deadzone`` t > 0 rounds magnitudes down unless their fraction passes 0.5 + t
    (q = sign(a) * floor(|a| + 0.5 - t)): fewer and smaller symbols for a little
    distortion.  It is the encoder's choice alone (the decoder multiplies q by the
    step whatever rounding made it), see SPEC.md section 5.1."""
    if not isinstance(y, np.ndarray):
        return y.quantised(D)
    a = y * np.float32(D_ONE / D)
    if deadzone:
        q = np.sign(a) * np.floor(np.abs(a) + np.float32(0.5 - deadzone))
    else:
        q = np.rint(a)
    lim = qlimit(D)
    return np.clip(q, -lim, lim).astype(np.int32)


def padded(q: np.ndarray) -> np.ndarray:
    """The kernels' zero-padded grid (h + 2, w + 3), value (i, j) at [i + 2, j + 2]."""
    h, w = q.shape
    qp = np.zeros((h + 2, w + 3), np.int32)
    qp[2:, 2:w + 2] = q
    return qp


def channel_params(model, qs: list[np.ndarray], k: int, shape: tuple[int, int], D: int):
    """(p0, p1, p2, prm) for channel k: the previous three channels (an all-zero grid
    where absent) and the kernels' int64 parameter vector."""
    from squeeze_image import kernels as kk

    h, w = shape
    prm = np.zeros(kk.PRM_LEN, np.int64)
    prm[kk.PRM_K] = model.K
    prm[kk.PRM_LIM] = qlimit(D)
    prm[kk.PRM_C0] = step_c0(model, k, D)
    prm[kk.PRM_WMU:kk.PRM_WMU + kk.N_MU] = model.ctx_wmu[k]
    prm[kk.PRM_VSC:kk.PRM_VSC + kk.N_SC] = model.ctx_vsc[k]
    prm[kk.PRM_BASE] = model.table(k, D) * model.freqs.shape[1]
    prev = []
    zero = None
    for t in range(3):
        j = k - 1 - t
        if j < 0:
            if zero is None:
                zero = np.zeros((h, w), np.int32)
            prev.append(zero)
            continue
        r = h // qs[j].shape[0]
        sh = r.bit_length() - 1
        if r != 1 << sh or qs[j].shape[0] << sh != h or qs[j].shape[1] << sh != w:
            raise ValueError("channel grids must nest by powers of two")
        prm[kk.PRM_SH + t] = sh
        prev.append(qs[j])
    return prev[0], prev[1], prev[2], prm


def estimate_bits(model, qs: list[np.ndarray], n: int, D: int) -> float:
    """Ideal code length (bits) of channels 0..n-1 under the context model."""
    from squeeze_image import kernels as kk

    total = 0
    for k in range(n):
        p0, p1, p2, prm = channel_params(model, qs, k, qs[k].shape, D)
        total += kk.ctx_channel_bits(padded(qs[k]), p0, p1, p2, prm, model.ctx_thr,
                                     model.cost[model.table(k, D)], model.esc_cost)
    return total / 256.0


class ChannelCache:
    """Per-image encoder state: channel k's symbols at step D, computed once.

    A channel's symbols depend only on its own quantised values and those of the
    three channels before it, all at the same step, so the rate search's estimates
    and the final encode share them.  Code lengths are kept for every step tried;
    the quantised channels and symbols only for the last ``KEEP`` steps (memory stays
    a few times the latents', whatever the search does; an evicted step is simply
    recomputed)."""

    KEEP = 2

    def __init__(self, model, ys: list[np.ndarray]):
        self.model = model
        self.ys = ys
        self._q: dict[tuple[int, int], np.ndarray] = {}
        self._c: dict[tuple[int, int], tuple] = {}
        self._bits: dict[tuple[int, int], int] = {}
        self._recent: list[int] = []

    def _touch(self, D: int) -> None:
        if D in self._recent:
            self._recent.remove(D)
        self._recent.append(D)
        while len(self._recent) > self.KEEP:
            old = self._recent.pop(0)
            for d in (self._q, self._c):
                for key in [key for key in d if key[1] == old]:
                    del d[key]

    def q(self, k: int, D: int) -> np.ndarray:
        key = (k, D)
        v = self._q.get(key)
        if v is None:
            self._touch(D)
            v = self._q[key] = quantise(self.ys[k], D)
        return v

    def _args(self, k: int, D: int) -> tuple:
        mdl = self.model
        qs = [self.q(j, D) if k - 3 <= j <= k else None for j in range(k + 1)]
        qk = qs[k]
        p0, p1, p2, prm = channel_params(mdl, qs, k, qk.shape, D)
        m = qk.size
        return (padded(qk), p0, p1, p2, prm, mdl.ctx_thr, mdl.cost[mdl.table(k, D)], mdl.esc_cost,
                np.empty(m, np.int32), np.empty(m, np.int64), np.empty(m, np.int64))

    def prepare(self, n: int, D: int) -> None:
        """Context pass of the channels < n not yet done at step D, the independent
        channels spread over the encoder threads (nogil kernel)."""
        from squeeze_image import kernels as kk
        from squeeze_image.threads import run_parallel

        self._touch(D)
        todo = [k for k in range(n) if (k, D) not in self._c]
        if not todo:
            return
        # biggest channels first, so the two threads' shares come out even
        todo.sort(key=lambda k: -self.ys[k].size)
        args = [self._args(k, D) for k in todo]
        res = run_parallel(kk.ctx_channel_symbols, args)
        for k, a, (bits, n_esc) in zip(todo, args, res):
            self._c[(k, D)] = (int(bits), a[8], a[9], a[10][:n_esc].copy())
            self._bits[(k, D)] = int(bits)

    def channel(self, k: int, D: int) -> tuple:
        """(bits in 1/256 bit, symbols, table rows, escape magnitudes) of channel k."""
        if (k, D) not in self._c:
            self.prepare(k + 1, D)
        return self._c[(k, D)]

    def bits(self, n: int, D: int) -> float:
        """Same value as :func:`estimate_bits` of the first n channels at step D."""
        if any((k, D) not in self._bits for k in range(n)):
            self.prepare(n, D)
        return sum(self._bits[(k, D)] for k in range(n)) / 256.0

    def encode(self, n: int, D: int) -> bytes:
        """Same bytes as :func:`encode` of the first n channels at step D."""
        fast = self.model.fast_coder()
        if fast is None:
            return encode(self.model, [self.q(k, D) for k in range(n)], n, D)
        self.prepare(n, D)
        parts = [self.channel(k, D) for k in range(n)]
        sym = np.concatenate([p[1] for p in parts])
        row = np.concatenate([p[2] for p in parts])
        e = np.concatenate([p[3] for p in parts])
        if e.size and int(e.max()) >= ESC_LEN:  # cannot happen: |q| <= qlimit(D_MIN)
            raise ValueError("latent escape value out of range")
        pairs = np.empty(2 * e.size, np.int32)
        pairs[0::2] = e // ESC_SPLIT
        pairs[1::2] = e % ESC_SPLIT
        alt = np.arange(2 * e.size, dtype=np.int64) % 2
        return fast.stream(sym, row, fast.cdf) + fast.stream(pairs, alt, fast.esc_cdf)


def encode(model, qs: list[np.ndarray], n: int, D: int) -> bytes:
    """Code channels 0..n-1; returns the two constriction streams, concatenated."""
    from frappe_cli.coding import constriction_ans as ans
    from squeeze_image import kernels as kk

    table, esc_table = model.freq_table()
    total = sum(int(qs[k].size) for k in range(n))
    sym = np.empty(total, np.int32)
    idx = np.empty(total, np.int64)
    esc = np.empty(total, np.int64)
    n_esc = 0
    pos = 0
    for k in range(n):
        m = qs[k].size
        p0, p1, p2, prm = channel_params(model, qs, k, qs[k].shape, D)
        n_esc = kk.ctx_channel_encode(padded(qs[k]), p0, p1, p2, prm, model.ctx_thr,
                                      sym[pos:pos + m], idx[pos:pos + m], esc, n_esc)
        pos += m
    main = ans.Encoder("ans")
    main.categorical_indexed(sym, table, idx)
    side = ans.Encoder("ans")
    e = esc[:n_esc]
    if n_esc and int(e.max()) >= ESC_LEN:  # cannot happen: |q| <= qlimit(D_MIN)
        raise ValueError("latent escape value out of range")
    pairs = np.empty(2 * n_esc, np.int32)
    pairs[0::2] = e // ESC_SPLIT
    pairs[1::2] = e % ESC_SPLIT
    side.categorical_indexed(pairs, esc_table, np.arange(2 * n_esc, dtype=np.int64) % 2)
    return main.finish() + side.finish()


def decode(model, data: memoryview, offset: int, n: int, D: int,
           shapes: list[tuple[int, int]]) -> tuple[list[np.ndarray], int]:
    """Inverse of :func:`encode`; returns the channels and the offset after the streams.

    Where the model's tables passed ``fast_ans``'s probe (its quantised CDFs are
    constriction's), one numba kernel per channel decodes contexts and symbols
    together; otherwise constriction decodes wave by wave.  Both read the same
    symbols from the same bytes."""
    fast = model.fast_coder()
    if fast is not None:
        return _decode_fast(model, fast, data, offset, n, D, shapes)
    return _decode_waves(model, data, offset, n, D, shapes)


def _decode_fast(model, fast, data: memoryview, offset: int, n: int, D: int,
                 shapes: list[tuple[int, int]]) -> tuple[list[np.ndarray], int]:
    from frappe_cli.coding import constriction_ans as ans
    from frappe_cli.coding import fast_ans
    from squeeze_image import kernels as kk

    mw, m_expected, m_end = ans.stream_words(data, offset)
    sw, s_expected, s_end = ans.stream_words(data, m_end)
    total = sum(h * w for h, w in shapes[:n])
    if m_expected != total:
        raise CorruptError("Compressed data is corrupt (latent symbol count mismatch)")
    if s_expected > 2 * total:
        raise CorruptError("Compressed data is corrupt (escape count too large)")
    ms, ss = fast_ans.decoder_state(mw, m_expected), fast_ans.decoder_state(sw, s_expected)
    qs: list[np.ndarray] = []
    for k in range(n):
        h, w = shapes[k]
        qp = np.zeros((h + 2, w + 3), np.int32)
        p0, p1, p2, prm = channel_params(model, qs, k, (h, w), D)
        rc = kk.ctx_channel_decode(qp, prm, model.ctx_thr, p0, p1, p2, fast.cdf, fast.esc_cdf,
                                   mw, ms, sw, ss)
        if rc == -1:
            raise CorruptError("Compressed data is corrupt (latent value out of range)")
        if rc == -2:
            raise CorruptError("Compressed data is corrupt (more symbols requested than stored)")
        if rc != 0:
            raise CorruptError("Compressed data is corrupt (context out of range)")
        qs.append(np.ascontiguousarray(qp[2:, 2:w + 2]))
    for st, name in ((ms, "latent"), (ss, "escape")):
        if st[2] != 0:
            raise CorruptError(f"Compressed data is corrupt ({name} stream has "
                               f"{int(st[2])} symbols left over)")
        if st[0] != 0 or st[1] != 0:
            raise CorruptError("Compressed data is corrupt (entropy-coded stream does not end "
                               "where its symbols do)")
    return qs, s_end


def _decode_waves(model, data: memoryview, offset: int, n: int, D: int,
                  shapes: list[tuple[int, int]]) -> tuple[list[np.ndarray], int]:
    from frappe_cli.coding import constriction_ans as ans
    from squeeze_image import kernels as kk

    table, esc_table = model.freq_table()
    main = ans.Decoder(data, "ans", offset=offset)
    side = ans.Decoder(data, "ans", offset=main.end)
    total = sum(h * w for h, w in shapes[:n])
    if main.expected != total:
        raise CorruptError("Compressed data is corrupt (latent symbol count mismatch)")
    if side.expected > 2 * total:
        raise CorruptError("Compressed data is corrupt (escape count too large)")
    qs: list[np.ndarray] = []
    K = model.K
    esc_hi = 2 * K + 2
    thr = model.ctx_thr
    step = kk.ctx_wave_step
    for k in range(n):
        h, w = shapes[k]
        qp = np.zeros((h + 2, w + 3), np.int32)
        p0, p1, p2, prm = channel_params(model, qs, k, (h, w), D)
        wave = min(h, (w + 1) // 2 + 1)
        mrow = np.empty(wave, np.int64)
        brow = np.empty(wave, np.int64)
        alt_idx = np.arange(2 * wave, dtype=np.int64) % 2
        sym = np.zeros(1, np.int32)
        ev = alt_idx[:1]
        n_waves = 2 * (h - 1) + w
        for t in range(n_waves + 1):
            cnt = step(qp, t, sym, ev, prm, thr, p0, p1, p2, mrow, brow)
            if cnt < 0:
                raise CorruptError("Compressed data is corrupt (latent value out of range)")
            if t == n_waves:
                break
            sym = main.categorical_indexed(table, brow[:cnt])
            n_e = int(np.count_nonzero((sym == 0) | (sym == esc_hi)))
            if n_e:
                hl = side.categorical_indexed(esc_table, alt_idx[:2 * n_e])
                ev = hl[0::2].astype(np.int64) * ESC_SPLIT + hl[1::2]
        qs.append(np.ascontiguousarray(qp[2:, 2:w + 2]))
    main.finish()
    side.finish()
    return qs, side.end
