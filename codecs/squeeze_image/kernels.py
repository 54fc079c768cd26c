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
from numba import njit, prange  # noqa: E402

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
# integer context model (shared by encoder and decoder; see SPEC.md section 4)
#
# Positions of a channel are coded in wavefront order: wave t = 2 i + j, i increasing
# inside a wave.  Every causal neighbour of (i, j) -- W, WW, N, NW, NE, NN -- lies on
# an earlier wave, so the decoder decodes one whole wave per vectorised call.

FP = 12  # fixed-point fraction bits of the context weights
N_MU = 9  # N, NW, NE, NN, W, WW, P0, P1, P2
N_SC = 14  # |those 9|, |N-NW|, |N-NE|, |N-NN|, |W-NW|, |W-WW|


@njit(cache=True, nogil=True, inline="always")
def _ctx_at(q, i, j, p0, p1, p2, rr, n_prev, wmu, vsc, c0, thr, qlim):
    """(predicted mean, scale bucket) of position (i, j) from decoded values only."""
    h, w = q.shape
    n = np.int64(0)
    nw = np.int64(0)
    ne = np.int64(0)
    nn = np.int64(0)
    wv = np.int64(0)
    ww = np.int64(0)
    if i >= 1:
        n = q[i - 1, j]
        if j >= 1:
            nw = q[i - 1, j - 1]
        if j + 1 < w:
            ne = q[i - 1, j + 1]
    if i >= 2:
        nn = q[i - 2, j]
    if j >= 1:
        wv = q[i, j - 1]
    if j >= 2:
        ww = q[i, j - 2]
    a0 = np.int64(0)
    a1 = np.int64(0)
    a2 = np.int64(0)
    if n_prev > 0:
        a0 = p0[i // rr[0], j // rr[0]]
    if n_prev > 1:
        a1 = p1[i // rr[1], j // rr[1]]
    if n_prev > 2:
        a2 = p2[i // rr[2], j // rr[2]]
    mu = (wmu[0] * n + wmu[1] * nw + wmu[2] * ne + wmu[3] * nn + wmu[4] * wv + wmu[5] * ww
          + wmu[6] * a0 + wmu[7] * a1 + wmu[8] * a2)
    act = (c0 + vsc[0] * abs(n) + vsc[1] * abs(nw) + vsc[2] * abs(ne) + vsc[3] * abs(nn)
           + vsc[4] * abs(wv) + vsc[5] * abs(ww) + vsc[6] * abs(a0) + vsc[7] * abs(a1)
           + vsc[8] * abs(a2) + vsc[9] * abs(n - nw) + vsc[10] * abs(n - ne)
           + vsc[11] * abs(n - nn) + vsc[12] * abs(wv - nw) + vsc[13] * abs(wv - ww))
    m = (mu + (np.int64(1) << (FP - 1))) >> FP
    if m > qlim:
        m = qlim
    elif m < -qlim:
        m = -qlim
    nb = thr.shape[0]
    b = 0
    while b < nb and act >= thr[b]:
        b += 1
    return m, b


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
def ctx_channel_encode(q, p0, p1, p2, rr, n_prev, wmu, vsc, c0, thr, qlim, K, sym, bkt, esc, n_esc):
    """Encoder side, whole channel in wavefront order: symbol index (0 = below -K,
    1..2K+1, 2K+2 = above K), bucket, escape magnitudes appended to esc[n_esc:].
    Returns the new n_esc."""
    h, w = q.shape
    pos = 0
    for t in range(2 * (h - 1) + w):
        lo, hi = _wave_range(t, h, w)
        for i in range(lo, hi):
            j = t - 2 * i
            m, b = _ctx_at(q, i, j, p0, p1, p2, rr, n_prev, wmu, vsc, c0, thr, qlim)
            r = np.int64(q[i, j]) - m
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
            bkt[pos] = b
            pos += 1
    return n_esc


@njit(cache=True, nogil=True)
def ctx_channel_bits(q, p0, p1, p2, rr, n_prev, wmu, vsc, c0, thr, qlim, K, cost, esc_cost):
    """Ideal code length (in 1/256 bit units) of one channel under the context model."""
    h, w = q.shape
    total = np.int64(0)
    ne = esc_cost.shape[0]
    for i in range(h):
        for j in range(w):
            m, b = _ctx_at(q, i, j, p0, p1, p2, rr, n_prev, wmu, vsc, c0, thr, qlim)
            r = np.int64(q[i, j]) - m
            if r < -K:
                total += cost[b, 0] + esc_cost[min(-r - K - 1, ne - 1)]
            elif r > K:
                total += cost[b, 2 * K + 2] + esc_cost[min(r - K - 1, ne - 1)]
            else:
                total += cost[b, r + K + 1]
    return total


# decoder parameter vector (one int64 array, to keep the per-wave call cheap)
PRM_K, PRM_LIM, PRM_C0, PRM_NPREV, PRM_RR, PRM_WMU, PRM_VSC, PRM_BASE = 0, 1, 2, 3, 4, 7, 16, 30
PRM_LEN = 31


@njit(cache=True, nogil=True)
def ctx_wave_step(q, t, sym, esc_vals, prm, thr, p0, p1, p2, mrow, brow):
    """Decoder side, one call per wave: if t > 0, write wave t-1 from its decoded
    symbols (``sym``, escape magnitudes ``esc_vals`` in order); then compute the
    means and buckets of wave t into mrow/brow.

    Returns the size of wave t (0 past the last wave), or -1 if a written value
    falls outside -lim..lim (corrupt stream)."""
    h, w = q.shape
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
            q[i, t - 1 - 2 * i] = v
            k += 1
    if t >= 2 * (h - 1) + w:
        return 0
    rr = prm[PRM_RR:PRM_RR + 3]
    wmu = prm[PRM_WMU:PRM_WMU + 9]
    vsc = prm[PRM_VSC:PRM_VSC + 14]
    c0 = prm[PRM_C0]
    n_prev = prm[PRM_NPREV]
    lo, hi = _wave_range(t, h, w)
    k = 0
    for i in range(lo, hi):
        m, b = _ctx_at(q, i, t - 2 * i, p0, p1, p2, rr, n_prev, wmu, vsc, c0, thr, qlim)
        mrow[k] = m
        brow[k] = b + prm[PRM_BASE]  # + the channel's first table row
        k += 1
    return k


# ------------------------------------------------------------------------------------
# analysis (encoder only).  Its floats only choose the latents, which are then sent
# exactly, so it may reassociate sums (fastmath): nothing here feeds a probability
# model or the decoder's arithmetic.


@njit(cache=True, nogil=True, fastmath=True, parallel=True)
def project_group(img, p, A, bias, s, g, out):
    """Softsign latents of one patch-size group.

    img: (H, W*3) uint8 view of an (H, W, 3) image; A: (c, p, p*3) float32 weights over
    raw 0..255 values; out: (H/p, W/p, c) float32 <- g z / (s + |z|), z = <A, patch> + bias.
    Patch rows run in parallel; each converts its image rows to float once.
    """
    hp, wp, c = out.shape
    row = p * 3
    w3 = img.shape[1]
    for i in prange(hp):
        acc = np.zeros((wp, c), np.float32)
        rf = np.empty(w3, np.float32)
        for dy in range(p):
            y = i * p + dy
            for x in range(w3):
                rf[x] = img[y, x]
            for j in range(wp):
                x0 = j * row
                for k in range(c):
                    a = np.float32(0.0)
                    for t in range(row):
                        a += rf[x0 + t] * A[k, dy, t]
                    acc[j, k] += a
        for j in range(wp):
            for k in range(c):
                z = acc[j, k] + bias[k]
                out[i, j, k] = g[k] * z / (s[k] + abs(z))
