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

import numpy as np
from numba import njit, prange

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
    """x += ls * (hardswish(hn @ w1 + b1) @ w2 + b2), cell by cell (in place on x)."""
    H, W, C = hn.shape
    C4 = w1.shape[1]
    three = np.float32(3.0)
    six = np.float32(6.0)
    zero = np.float32(0.0)
    for i in prange(H):
        t = np.empty(C4, np.float32)
        o = np.empty(C, np.float32)
        for j in range(W):
            for k in range(C4):
                t[k] = b1[k]
            for c in range(C):
                v = hn[i, j, c]
                for k in range(C4):
                    t[k] += v * w1[c, k]
            for k in range(C4):
                a = t[k] + three
                if a < zero:
                    a = zero
                elif a > six:
                    a = six
                t[k] = t[k] * a / six
            for c in range(C):
                o[c] = b2[c]
            for k in range(C4):
                v = t[k]
                for c in range(C):
                    o[c] += v * w2[k, c]
            for c in range(C):
                x[i, j, c] = x[i, j, c] + ls[c] * o[c]


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
# integer context model (shared by encoder and decoder; see SPEC.md section 5)

FP = 12  # fixed-point fraction bits of the context weights


@njit(cache=True, nogil=True, inline="always")
def _ctx_row(q, i, p0, p1, p2, rr, n_prev, wmu, vsc, c0, thr, qlim, mrow, brow):
    """Predicted mean and scale bucket of every position of row i of one channel.

    q: (h, w) int32 channel (rows < i decoded); p0, p1, p2: the previous channels
    k-1, k-2, k-3 on their own grids, rr[t] = their cell size / this one's
    (nearest resampling: P_t = p_t[i // rr[t], j // rr[t]]).
    """
    h, w = q.shape
    nb = thr.shape[0]
    half = np.int64(1) << (FP - 1)
    for j in range(w):
        n = np.int64(0)
        nw = np.int64(0)
        ne = np.int64(0)
        nn = np.int64(0)
        if i >= 1:
            n = q[i - 1, j]
            if j >= 1:
                nw = q[i - 1, j - 1]
            if j + 1 < w:
                ne = q[i - 1, j + 1]
        if i >= 2:
            nn = q[i - 2, j]
        mu = wmu[0] * n + wmu[1] * nw + wmu[2] * ne + wmu[3] * nn
        act = c0 + vsc[0] * abs(n) + vsc[1] * abs(nw) + vsc[2] * abs(ne) + vsc[3] * abs(nn)
        act += vsc[7] * abs(n - nw) + vsc[8] * abs(n - ne) + vsc[9] * abs(n - nn)
        if n_prev > 0:
            p = np.int64(p0[i // rr[0], j // rr[0]])
            mu += wmu[4] * p
            act += vsc[4] * abs(p)
        if n_prev > 1:
            p = np.int64(p1[i // rr[1], j // rr[1]])
            mu += wmu[5] * p
            act += vsc[5] * abs(p)
        if n_prev > 2:
            p = np.int64(p2[i // rr[2], j // rr[2]])
            mu += wmu[6] * p
            act += vsc[6] * abs(p)
        m = (mu + half) >> FP
        if m > qlim:
            m = qlim
        elif m < -qlim:
            m = -qlim
        mrow[j] = m
        b = 0
        while b < nb and act >= thr[b]:
            b += 1
        brow[j] = b


@njit(cache=True, nogil=True)
def ctx_channel_encode(q, p0, p1, p2, rr, n_prev, wmu, vsc, c0, thr, qlim, K, sym, bkt, esc, n_esc):
    """Encoder side, whole channel: symbol index (0 = below -K, 1..2K+1, 2K+2 = above K),
    bucket per position, escape magnitudes appended to esc[n_esc:]; returns new n_esc."""
    h, w = q.shape
    mrow = np.empty(w, np.int64)
    brow = np.empty(w, np.int64)
    p = 0
    for i in range(h):
        _ctx_row(q, i, p0, p1, p2, rr, n_prev, wmu, vsc, c0, thr, qlim, mrow, brow)
        for j in range(w):
            r = np.int64(q[i, j]) - mrow[j]
            if r < -K:
                sym[p] = 0
                esc[n_esc] = -r - K - 1
                n_esc += 1
            elif r > K:
                sym[p] = 2 * K + 2
                esc[n_esc] = r - K - 1
                n_esc += 1
            else:
                sym[p] = r + K + 1
            bkt[p] = brow[j]
            p += 1
    return n_esc


@njit(cache=True, nogil=True)
def ctx_channel_bits(q, p0, p1, p2, rr, n_prev, wmu, vsc, c0, thr, qlim, K, cost, esc_cost):
    """Ideal code length (in 1/256 bit units) of one channel under the context model."""
    h, w = q.shape
    mrow = np.empty(w, np.int64)
    brow = np.empty(w, np.int64)
    total = np.int64(0)
    ne = esc_cost.shape[0]
    for i in range(h):
        _ctx_row(q, i, p0, p1, p2, rr, n_prev, wmu, vsc, c0, thr, qlim, mrow, brow)
        for j in range(w):
            r = np.int64(q[i, j]) - mrow[j]
            b = brow[j]
            if r < -K:
                e = -r - K - 1
                total += cost[b, 0] + esc_cost[min(e, ne - 1)]
            elif r > K:
                e = r - K - 1
                total += cost[b, 2 * K + 2] + esc_cost[min(e, ne - 1)]
            else:
                total += cost[b, r + K + 1]
    return total


@njit(cache=True, nogil=True)
def ctx_row_models(q, i, p0, p1, p2, rr, n_prev, wmu, vsc, c0, thr, qlim, mrow, brow):
    """Decoder side: predicted means and buckets of row i (rows < i already decoded)."""
    _ctx_row(q, i, p0, p1, p2, rr, n_prev, wmu, vsc, c0, thr, qlim, mrow, brow)


@njit(cache=True, nogil=True)
def ctx_row_finish(q, i, sym, mrow, esc_vals, K, qlim):
    """Decoder side: write row i from decoded symbols (+ escape magnitudes, in order).

    Returns 0 on success, 1 if a value falls outside -qlim..qlim (corrupt stream)."""
    w = q.shape[1]
    e = 0
    for j in range(w):
        s = np.int64(sym[j])
        if s == 0:
            r = -(np.int64(esc_vals[e]) + K + 1)
            e += 1
        elif s == 2 * K + 2:
            r = np.int64(esc_vals[e]) + K + 1
            e += 1
        else:
            r = s - K - 1
        v = mrow[j] + r
        if v > qlim or v < -qlim:
            return 1
        q[i, j] = v
    return 0


# ------------------------------------------------------------------------------------
# analysis (encoder only).  Its floats only choose the latents, which are then sent
# exactly, so it may reassociate sums (fastmath): nothing here feeds a probability
# model or the decoder's arithmetic.


@njit(cache=True, nogil=True, fastmath=True)
def project_group(img, p, A, bias, s, g, out):
    """Softsign latents of one patch-size group.

    img: (H, W*3) uint8 view of an (H, W, 3) image; A: (c, p, p*3) float32 weights over
    raw 0..255 values; out: (H/p, W/p, c) float32 <- g z / (s + |z|), z = <A, patch> + bias.
    """
    hp, wp, c = out.shape
    row = p * 3
    for i in range(hp):
        for j in range(wp):
            for k in range(c):
                acc = np.float32(0.0)
                for dy in range(p):
                    y = i * p + dy
                    x0 = j * row
                    for t in range(row):
                        acc += np.float32(img[y, x0 + t]) * A[k, dy, t]
                z = acc + bias[k]
                out[i, j, k] = g[k] * z / (s[k] + abs(z))
