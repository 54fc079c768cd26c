"""numba kernels of FRAPPE-Image: the decoder network and the integer context model.

Determinism: every float here is float32, every sum runs in a fixed sequential
order, no fastmath (so no reassociation and no FMA contraction: checked by the
tests on the generated assembly), no transcendental functions (hardswish, not
GELU; LayerNorm uses only +, -, *, / and sqrt, which IEEE 754 rounds exactly).
``prange`` only splits independent output rows, never a sum.  The same input
therefore gives the same bytes on every x86-64/ARM machine, whatever the
thread count or SIMD width, which the container's reconstruction check needs.

Layout: activations are HWC (cells x channels, channels contiguous), weights
are stored (in, out) so the inner loop runs over contiguous output channels.
"""

from __future__ import annotations

import os

# numba's OpenMP layer spins idle threads by default: on a shared or busy machine the
# spinning costs more CPU than the second thread saves (measured: 2 threads took 5x
# the CPU time of 1 under load).  Passive waiting unless the user chose otherwise;
# must be set before the first parallel kernel starts the thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from frappe_cli.coding.fast_ans import decode_row  # noqa: E402
from frappe_cli.jit import njit, prange  # noqa: E402
from squeeze_image.entropy import ESC_SPLIT  # noqa: E402

# ------------------------------------------------------------------------------------
# decoder network


@njit(cache=True, nogil=True, parallel=True)
def conv3x3_dense(x, w, b, out):
    """x (H, W, Ci), w (3, 3, Ci, Co), b (Co,) -> out (H, W, Co); zero padding."""
    H, W, Ci = x.shape
    Co = w.shape[3]
    for i in prange(H):
        for j in range(W):
            for o in range(Co):
                out[i, j, o] = b[o]
            for dy in range(3):
                ii = i + dy - 1
                if ii < 0 or ii >= H:
                    continue
                for dx in range(3):
                    jj = j + dx - 1
                    if jj < 0 or jj >= W:
                        continue
                    for c in range(Ci):
                        v = x[ii, jj, c]
                        if v == 0.0:
                            # absent channels and the position-expanded coarse slots are
                            # mostly zeros; skipping them changes at most the sign of a
                            # zero sum, never a pixel
                            continue
                        for o in range(Co):
                            out[i, j, o] += v * w[dy, dx, c, o]


@njit(cache=True, nogil=True, parallel=True)
def dw_ln_film(x, wdw, bdw, gam, bet, out):
    """Depthwise 3x3 (zero padding) -> LayerNorm over channels -> (1 + gam) * h + bet."""
    H, W, C = x.shape
    inv_c = np.float32(1.0) / np.float32(C)
    eps = np.float32(1e-6)
    one = np.float32(1.0)
    for i in prange(H):
        h = np.empty(C, np.float32)
        for j in range(W):
            for c in range(C):
                h[c] = bdw[c]
            for dy in range(3):
                ii = i + dy - 1
                if ii < 0 or ii >= H:
                    continue
                for dx in range(3):
                    jj = j + dx - 1
                    if jj < 0 or jj >= W:
                        continue
                    for c in range(C):
                        h[c] += x[ii, jj, c] * wdw[dy, dx, c]
            s = np.float32(0.0)
            for c in range(C):
                s += h[c]
            mu = s * inv_c
            v = np.float32(0.0)
            for c in range(C):
                d = h[c] - mu
                v += d * d
            var = v * inv_c
            r = one / np.sqrt(var + eps)
            for c in range(C):
                out[i, j, c] = ((h[c] - mu) * r) * (one + gam[c]) + bet[c]


@njit(cache=True, nogil=True, parallel=True)
def mlp_residual(hn, w1, b1, w2, b2, ls, x):
    """x += ls * (hardswish(hn @ w1 + b1) @ w2 + b2), cell by cell (in place on x).

    Cells are taken eight at a time so that each weight row, read once, serves all
    eight; every output still sums its terms in the same order (bias first, then
    input channel 0, 1, ...), so the result is the same to the bit as one cell at a
    time."""
    H, W, C = hn.shape
    C4 = w1.shape[1]
    TJ = 8
    three = np.float32(3.0)
    six = np.float32(6.0)
    zero = np.float32(0.0)
    for i in prange(H):
        t = np.empty((TJ, C4), np.float32)
        o = np.empty((TJ, C), np.float32)
        for j0 in range(0, W, TJ):
            nj = min(TJ, W - j0)
            for jj in range(nj):
                for k in range(C4):
                    t[jj, k] = b1[k]
            for c in range(C):
                for jj in range(nj):
                    v = hn[i, j0 + jj, c]
                    for k in range(C4):
                        t[jj, k] += v * w1[c, k]
            for jj in range(nj):
                for k in range(C4):
                    a = t[jj, k] + three
                    if a < zero:
                        a = zero
                    elif a > six:
                        a = six
                    t[jj, k] = t[jj, k] * a / six
                for c in range(C):
                    o[jj, c] = b2[c]
            for k in range(C4):
                for jj in range(nj):
                    v = t[jj, k]
                    for c in range(C):
                        o[jj, c] += v * w2[k, c]
            for jj in range(nj):
                for c in range(C):
                    x[i, j0 + jj, c] = x[i, j0 + jj, c] + ls[c] * o[jj, c]


@njit(cache=True, nogil=True, parallel=True)
def head_to_pixels(x, w, b, r, out_h, out_w, out):
    """1x1 conv to 3*r*r, pixel shuffle r, clamp [-1, 1], to uint8 (H*r, W*r, 3), cropped."""
    H, W, C = x.shape
    Co = w.shape[1]
    half = np.float32(127.5)
    one = np.float32(1.0)
    for i in prange(H):
        t = np.empty(Co, np.float32)
        for j in range(W):
            for k in range(Co):
                t[k] = b[k]
            for c in range(C):
                v = x[i, j, c]
                for k in range(Co):
                    t[k] += v * w[c, k]
            for ch in range(3):
                for dy in range(r):
                    y = i * r + dy
                    if y >= out_h:
                        continue
                    for dx in range(r):
                        xx = j * r + dx
                        if xx >= out_w:
                            continue
                        v = t[ch * r * r + dy * r + dx]
                        if v < -one:
                            v = -one
                        elif v > one:
                            v = one
                        out[y, xx, ch] = np.uint8(np.floor((v + one) * half + np.float32(0.5)))


@njit(cache=True, nogil=True)
def film_vectors(wf, bf, cond, d):
    """FiLM parameters from the conditioning vector (fixed-order sums)."""
    g = np.empty(d, np.float32)
    bb = np.empty(d, np.float32)
    n_in = cond.shape[0]
    for o in range(2 * d):
        s = bf[o]
        for k in range(n_in):
            s += wf[o, k] * cond[k]
        if o < d:
            g[o] = s
        else:
            bb[o - d] = s
    return g, bb


# ------------------------------------------------------------------------------------
# integer context model (shared by encoder and decoder; see SPEC.md section 4)
#
# Positions of a channel are coded in wavefront order: wave t = 2 i + j, i increasing
# inside a wave.  Every causal neighbour of (i, j) -- W, WW, N, NW, NE, NN -- lies on
# an earlier wave, so the decoder decodes one whole wave per vectorised call.
#
# A channel lives in a zero-padded grid qp of shape (h + 2, w + 3), value (i, j) at
# qp[i + 2, j + 2]: the neighbours outside the grid read as 0 without branches.
# Previous channels are read from their own (unpadded) grids at (i >> s, j >> s)
# (patch sizes are powers of two); an absent one is an all-zero grid.

FP = 12  # fixed-point fraction bits of the context weights
N_MU = 9  # N, NW, NE, NN, W, WW, P0, P1, P2
N_SC = 14  # |those 9|, |N-NW|, |N-NE|, |N-NN|, |W-NW|, |W-WW|
# decoder/encoder parameter vector: one int64 array per channel
PRM_K, PRM_LIM, PRM_C0, PRM_SH, PRM_WMU, PRM_VSC, PRM_BASE = 0, 1, 2, 3, 6, 15, 29
PRM_LEN = 30


@njit(cache=True, nogil=True, inline="always")
def _ctx_at(qp, i, j, p0, p1, p2, prm, thr):
    """(predicted mean, scale bucket) of position (i, j) from decoded values only."""
    n = np.int64(qp[i + 1, j + 2])
    nw = np.int64(qp[i + 1, j + 1])
    ne = np.int64(qp[i + 1, j + 3])
    nn = np.int64(qp[i, j + 2])
    wv = np.int64(qp[i + 2, j + 1])
    ww = np.int64(qp[i + 2, j])
    a0 = np.int64(p0[i >> prm[PRM_SH], j >> prm[PRM_SH]])
    a1 = np.int64(p1[i >> prm[PRM_SH + 1], j >> prm[PRM_SH + 1]])
    a2 = np.int64(p2[i >> prm[PRM_SH + 2], j >> prm[PRM_SH + 2]])
    W = PRM_WMU
    mu = (prm[W] * n + prm[W + 1] * nw + prm[W + 2] * ne + prm[W + 3] * nn + prm[W + 4] * wv
          + prm[W + 5] * ww + prm[W + 6] * a0 + prm[W + 7] * a1 + prm[W + 8] * a2)
    V = PRM_VSC
    act = (prm[PRM_C0] + prm[V] * abs(n) + prm[V + 1] * abs(nw) + prm[V + 2] * abs(ne)
           + prm[V + 3] * abs(nn) + prm[V + 4] * abs(wv) + prm[V + 5] * abs(ww)
           + prm[V + 6] * abs(a0) + prm[V + 7] * abs(a1) + prm[V + 8] * abs(a2)
           + prm[V + 9] * abs(n - nw) + prm[V + 10] * abs(n - ne) + prm[V + 11] * abs(n - nn)
           + prm[V + 12] * abs(wv - nw) + prm[V + 13] * abs(wv - ww))
    m = (mu + (np.int64(1) << (FP - 1))) >> FP
    qlim = prm[PRM_LIM]
    if m > qlim:
        m = qlim
    elif m < -qlim:
        m = -qlim
    lo = 0  # bucket = number of thresholds <= act (binary search; thr is increasing)
    hi = thr.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if act >= thr[mid]:
            lo = mid + 1
        else:
            hi = mid
    return m, lo


@njit(cache=True, nogil=True, inline="always")
def _wave_range(t, h, w):
    """Rows i of wave t (j = t - 2 i) inside an h x w grid: i in [lo, hi)."""
    lo = (t - w + 2) // 2
    if lo < 0:
        lo = 0
    hi = t // 2 + 1
    if hi > h:
        hi = h
    return lo, hi


@njit(cache=True, nogil=True)
def ctx_channel_encode(qp, p0, p1, p2, prm, thr, sym, bkt, esc, n_esc):
    """Encoder side, whole channel: symbol index (0 = below -K, 1..2K+1, 2K+2 = above
    K) and table row per position in wavefront order, escape magnitudes appended to
    esc[n_esc:] in the same order.  Returns the new n_esc."""
    h = qp.shape[0] - 2
    w = qp.shape[1] - 3
    K = prm[PRM_K]
    base = prm[PRM_BASE]
    # contexts in raster order (cache friendly), then emitted in wave order
    rs = np.empty((h, w), np.int64)
    rb = np.empty((h, w), np.int64)
    for i in range(h):
        for j in range(w):
            m, b = _ctx_at(qp, i, j, p0, p1, p2, prm, thr)
            rs[i, j] = np.int64(qp[i + 2, j + 2]) - m
            rb[i, j] = b
    pos = 0
    for t in range(2 * (h - 1) + w):
        lo, hi = _wave_range(t, h, w)
        for i in range(lo, hi):
            j = t - 2 * i
            r = rs[i, j]
            if r < -K:
                sym[pos] = 0
                esc[n_esc] = -r - K - 1
                n_esc += 1
            elif r > K:
                sym[pos] = 2 * K + 2
                esc[n_esc] = r - K - 1
                n_esc += 1
            else:
                sym[pos] = r + K + 1
            bkt[pos] = rb[i, j] + base
            pos += 1
    return n_esc


@njit(cache=True, nogil=True)
def ctx_channel_bits(qp, p0, p1, p2, prm, thr, cost, esc_cost):
    """Ideal code length (in 1/256 bit units) of one channel under the context model;
    cost is the channel's (buckets, 2K + 3) table of -log2 p * 256."""
    h = qp.shape[0] - 2
    w = qp.shape[1] - 3
    K = prm[PRM_K]
    total = np.int64(0)
    ne = esc_cost.shape[0]
    for i in range(h):
        for j in range(w):
            m, b = _ctx_at(qp, i, j, p0, p1, p2, prm, thr)
            r = np.int64(qp[i + 2, j + 2]) - m
            if r < -K:
                total += cost[b, 0] + esc_cost[min(-r - K - 1, ne - 1)]
            elif r > K:
                total += cost[b, 2 * K + 2] + esc_cost[min(r - K - 1, ne - 1)]
            else:
                total += cost[b, r + K + 1]
    return total


@njit(cache=True, nogil=True)
def ctx_wave_step(qp, t, sym, esc_vals, prm, thr, p0, p1, p2, mrow, brow):
    """Decoder side, one call per wave: if t > 0, write wave t-1 from its decoded
    symbols (``sym``, escape magnitudes ``esc_vals`` in order); then compute the
    means and table rows of wave t into mrow/brow.

    Returns the size of wave t (0 past the last wave), or -1 if a written value
    falls outside -lim..lim (corrupt stream)."""
    h = qp.shape[0] - 2
    w = qp.shape[1] - 3
    K = prm[PRM_K]
    qlim = prm[PRM_LIM]
    if t > 0:
        lo, hi = _wave_range(t - 1, h, w)
        e = 0
        k = 0
        for i in range(lo, hi):
            s = np.int64(sym[k])
            if s == 0:
                r = -(np.int64(esc_vals[e]) + K + 1)
                e += 1
            elif s == 2 * K + 2:
                r = np.int64(esc_vals[e]) + K + 1
                e += 1
            else:
                r = s - K - 1
            v = mrow[k] + r
            if v > qlim or v < -qlim:
                return -1
            qp[i + 2, t - 1 - 2 * i + 2] = v
            k += 1
    if t >= 2 * (h - 1) + w:
        return 0
    lo, hi = _wave_range(t, h, w)
    base = prm[PRM_BASE]
    k = 0
    for i in range(lo, hi):
        m, b = _ctx_at(qp, i, t - 2 * i, p0, p1, p2, prm, thr)
        mrow[k] = m
        brow[k] = b + base
        k += 1
    return k


@njit(cache=True, nogil=True)
def ctx_channel_decode(qp, prm, thr, p0, p1, p2, cdf, ecdf, mw, ms, sw, ss):
    """Decoder side, one whole channel: every wave's contexts (``ctx_wave_step``)
    and its symbols from the main stack-ANS stream (words ``mw``, state
    ``ms`` = [state, words left, symbols left]), escape magnitudes from the side
    stream (``sw``, ``ss`` alike; rows 0 and 1 of ``ecdf`` alternate).  The same
    symbols, in the same order, as ``entropy.decode``'s wave loop through
    constriction.  Returns 0, or -1 (a value out of range), -2 (a stream holds
    fewer symbols than asked for), -3 (a table row out of range)."""
    h = qp.shape[0] - 2
    w = qp.shape[1] - 3
    K = prm[PRM_K]
    esc_hi = 2 * K + 2
    wave = min(h, (w + 1) // 2 + 1)
    mrow = np.empty(wave, np.int64)
    brow = np.empty(wave, np.int64)
    sym = np.zeros(wave, np.int64)
    ev = np.zeros(wave, np.int64)
    n_waves = 2 * (h - 1) + w
    rows = cdf.shape[0]
    for t in range(n_waves + 1):
        cnt = ctx_wave_step(qp, t, sym, ev, prm, thr, p0, p1, p2, mrow, brow)
        if cnt < 0:
            return -1
        if t == n_waves:
            break
        if ms[2] < cnt:
            return -2
        ms[2] -= cnt
        e = 0
        for k in range(cnt):
            r = brow[k]
            if r < 0 or r >= rows:
                return -3
            s = decode_row(cdf, r, ms, mw)
            sym[k] = s
            if s == 0 or s == esc_hi:
                if ss[2] < 2:
                    return -2
                ss[2] -= 2
                a = decode_row(ecdf, 0, ss, sw)
                ev[e] = a * ESC_SPLIT + decode_row(ecdf, 1, ss, sw)
                e += 1
    return 0


# ------------------------------------------------------------------------------------
# analysis (encoder only).  Its floats only choose the latents, which are then sent
# exactly, so it may reassociate sums (fastmath): nothing here feeds a probability
# model or the decoder's arithmetic.


@njit(cache=True, nogil=True, fastmath=True)
def project_group_z(img, p, A, bias, out, i0, i1):
    """Projections z = <A_k, patch> + bias_k of one patch-size group (no softsign).

    img: (h, w*3) uint8 view of an (h, w, 3) image, read as if edge-padded to
    (H, W) = (p * out rows, p * out columns); A: (c, p, p*3) float32 weights over
    raw 0..255 values; out: (H/p, W/p, c) float32, patch rows i0..i1-1 written (the
    caller splits rows over threads: the kernel releases the GIL).  Each patch row
    converts its p image rows to float once.  Every z is summed by the same loop (a
    vectorised dot product over the p*3 values of each patch row, then over dy in
    order), whatever c is and wherever the channel sits in A, so a channel's value does not
    depend on which others are computed with it (fastmath only lets that inner dot
    product reassociate; nothing here feeds a probability model or the decoder)."""
    hp, wp, c = out.shape
    row = p * 3
    w3 = wp * row
    h_in = img.shape[0]
    w_in = min(img.shape[1], w3)
    for i in range(i0, i1):
        rf = np.empty((p, w3), np.float32)
        acc = np.empty((wp, c), np.float32)
        for dy in range(p):
            y = min(i * p + dy, h_in - 1)  # below the image: its last row (edge padding)
            for x in range(w_in):
                rf[dy, x] = img[y, x]
            for x in range(w_in, w3):  # right of it: its last pixel
                rf[dy, x] = img[y, w_in - 3 + (x - w_in) % 3]
        for j in range(wp):
            for k in range(c):
                acc[j, k] = 0.0
        for dy in range(p):
            for k in range(c):
                for j in range(wp):
                    x0 = j * row
                    a = np.float32(0.0)
                    for t in range(row):
                        a += rf[dy, x0 + t] * A[k, dy, t]
                    acc[j, k] += a
        for j in range(wp):
            for k in range(c):
                out[i, j, k] = acc[j, k] + bias[k]


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def closed_residual(x, rec, G, out):
    """out = x - (the linear path's reconstruction), both (H, W, 3) float32; rec is
    on the cell grid, (H/G, W/G, 3 G G) in the head's channel order (ch, dy, dx).
    Encoder only (format-2 closed-loop analysis)."""
    hc, wc, _ = rec.shape
    GG = G * G
    for cy in prange(hc):
        for dy in range(G):
            y = cy * G + dy
            for cx in range(wc):
                base = dy * G
                x0 = cx * G
                for dx in range(G):
                    for ch in range(3):
                        out[y, x0 + dx, ch] = x[y, x0 + dx, ch] - rec[cy, cx, ch * GG + base + dx]


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def closed_project(r, p, A, bias, out):
    """z = <A_k, patch> + bias_k over the float residual image (encoder only).

    r: (H, W * 3) float32 (an (H, W, 3) image, rows flattened); A: (c, p, p * 3)
    weights over each patch row's (dx, ch) values; out: (H/p, W/p, c).  Each z is the
    same loop (a vectorised dot product per patch row, then over dy in order), rows
    of patches independent (prange): the result does not depend on the thread
    count."""
    hp, wp, c = out.shape
    row = p * 3
    for i in prange(hp):
        for j in range(wp):
            x0 = j * row
            for k in range(c):
                acc = np.float32(0.0)
                for dy in range(p):
                    y = i * p + dy
                    a = np.float32(0.0)
                    for t in range(row):
                        a += r[y, x0 + t] * A[k, dy, t]
                    acc += a
                out[i, j, k] = acc + bias[k]


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def skip_accumulate(sl, w, rec):
    """rec (h, w, Co) += sl (h, w, S) @ w (S, Co) cell by cell, zero slots skipped
    (encoder only: the closed loop's linear reconstruction)."""
    h, wd, S = sl.shape
    Co = w.shape[1]
    for i in prange(h):
        for j in range(wd):
            for s in range(S):
                v = sl[i, j, s]
                if v == 0.0:
                    continue
                for o in range(Co):
                    rec[i, j, o] += v * w[s, o]


# ------------------------------------------------------------------------------------
# encoder fast path: one context pass per (channel, step) gives both the ideal code
# length and the coder's symbols, and a bit-exact ANS encoder replaces the per-symbol
# frequency rows constriction needs (see frappe_cli.coding.fast_ans; checked against
# constriction before use).


@njit(cache=True, nogil=True)
def ctx_channel_symbols(qp, p0, p1, p2, prm, thr, cost, esc_cost, sym, bkt, esc):
    """Whole channel, encoder side: ``sym``/``bkt`` (wavefront order, as
    ctx_channel_encode), escape magnitudes into esc[0:] (in that order), and the ideal
    code length (1/256 bit, as ctx_channel_bits).  Returns (bits, escapes).

    The same integer model as _ctx_at with the parameters held in locals; positions
    are visited in raster order (cache friendly) and their results stored straight
    at their wavefront index start[t] + i, t = j + 2 i."""
    h = qp.shape[0] - 2
    w = qp.shape[1] - 3
    K = prm[PRM_K]
    base = prm[PRM_BASE]
    ne = esc_cost.shape[0]
    s0, s1, s2 = prm[PRM_SH], prm[PRM_SH + 1], prm[PRM_SH + 2]
    W = PRM_WMU
    w0, w1, w2, w3, w4 = prm[W], prm[W + 1], prm[W + 2], prm[W + 3], prm[W + 4]
    w5, w6, w7, w8 = prm[W + 5], prm[W + 6], prm[W + 7], prm[W + 8]
    V = PRM_VSC
    v0, v1, v2, v3, v4 = prm[V], prm[V + 1], prm[V + 2], prm[V + 3], prm[V + 4]
    v5, v6, v7, v8, v9 = prm[V + 5], prm[V + 6], prm[V + 7], prm[V + 8], prm[V + 9]
    v10, v11, v12, v13 = prm[V + 10], prm[V + 11], prm[V + 12], prm[V + 13]
    c0 = prm[PRM_C0]
    qlim = prm[PRM_LIM]
    half = np.int64(1) << (FP - 1)
    nthr = thr.shape[0]
    nwv = 2 * (h - 1) + w
    start = np.empty(nwv, np.int64)
    acc = 0
    for t in range(nwv):
        lo, hi = _wave_range(t, h, w)
        start[t] = acc - lo
        acc += hi - lo
    em = np.empty(h * w, np.int32)
    total = np.int64(0)
    for i in range(h):
        for j in range(w):
            n = np.int64(qp[i + 1, j + 2])
            nw = np.int64(qp[i + 1, j + 1])
            nE = np.int64(qp[i + 1, j + 3])
            nn = np.int64(qp[i, j + 2])
            wv = np.int64(qp[i + 2, j + 1])
            ww = np.int64(qp[i + 2, j])
            a0 = np.int64(p0[i >> s0, j >> s0])
            a1 = np.int64(p1[i >> s1, j >> s1])
            a2 = np.int64(p2[i >> s2, j >> s2])
            mu = (w0 * n + w1 * nw + w2 * nE + w3 * nn + w4 * wv + w5 * ww + w6 * a0
                  + w7 * a1 + w8 * a2)
            act = (c0 + v0 * abs(n) + v1 * abs(nw) + v2 * abs(nE) + v3 * abs(nn)
                   + v4 * abs(wv) + v5 * abs(ww) + v6 * abs(a0) + v7 * abs(a1) + v8 * abs(a2)
                   + v9 * abs(n - nw) + v10 * abs(n - nE) + v11 * abs(n - nn)
                   + v12 * abs(wv - nw) + v13 * abs(wv - ww))
            m = (mu + half) >> FP
            if m > qlim:
                m = qlim
            elif m < -qlim:
                m = -qlim
            b = 0
            for t in range(nthr):
                b += 1 if act >= thr[t] else 0
            r = np.int64(qp[i + 2, j + 2]) - m
            pos = start[j + 2 * i] + i
            bkt[pos] = b + base
            if r < -K:
                total += cost[b, 0] + esc_cost[min(-r - K - 1, ne - 1)]
                sym[pos] = 0
                em[pos] = -r - K - 1
            elif r > K:
                total += cost[b, 2 * K + 2] + esc_cost[min(r - K - 1, ne - 1)]
                sym[pos] = 2 * K + 2
                em[pos] = r - K - 1
            else:
                total += cost[b, r + K + 1]
                sym[pos] = r + K + 1
    n_esc = 0
    top = 2 * K + 2
    for pos in range(h * w):
        s = sym[pos]
        if s == 0 or s == top:
            esc[n_esc] = em[pos]
            n_esc += 1
    return total, n_esc
