"""numba kernels of the frame encoder (``frames.py``): encoder side only.

The decoder never runs any of this: it reads the payload with ``entropy.decode``
and the kernels of ``kernels.py``.  What a frame payload must agree on with the
decoder is integer arithmetic only (the context model of SPEC.md section 4 and
constriction's stack ANS), and these kernels reproduce it exactly:

* ``frame_ctx_rows`` computes the same (mean, bucket) as ``kernels._ctx_at`` for a
  whole row at once (the encoder knows every latent, so the positions of a row are
  independent), as a few simple loops LLVM vectorises;
* ``frame_ans_encode`` writes the same words as ``frappe_cli.coding.fast_ans.encode_rows`` over
  the wavefront order of SPEC.md section 4, read straight from raster arrays;
* ``frame_project`` is the analysis transform (floats that only *choose* the
  latents; fastmath, like ``kernels.project_group_z``, but one contiguous dot
  product per patch and channel, four channels at a time).  A latent may differ
  in its last bits with the set of channels computed in the same call; the
  encoder makes the same calls for the same frame and rate, so its payloads are
  reproducible all the same.

Every kernel works on a range of rows so that callers can split a frame over
threads; each row is computed by the same code whatever the split, so the
payload never depends on the thread count.
"""

from __future__ import annotations

import numpy as np
from frappe_cli.jit import njit
from squeeze_image.kernels import _wave_range  # the wavefront order of SPEC.md 4

from squeeze_image.kernels import FP, PRM_BASE, PRM_C0, PRM_K, PRM_LIM, PRM_SH, PRM_VSC, PRM_WMU

ANS_PRECISION = 24


# ------------------------------------------------------------------------------------
# analysis


@njit(cache=True, nogil=True, fastmath=True)
def frame_project(img, p, A, bias, out, i0, i1):
    """z = <A_k, patch> + bias_k for patch rows i0..i1-1 of one patch-size group.

    img: (h, w*3) uint8, read as if edge-padded to (p * out rows, p * out columns);
    A: (c, p*p*3) float32 over raw 0..255 values in (dy, dx, channel) order;
    out: (H/p, W/p, c) float32.  Each patch is gathered into one contiguous vector
    and dotted with each channel's weights (one reduction per patch and channel)."""
    hp, wp, c = out.shape
    row = p * 3
    P = p * row
    h_in = img.shape[0]
    w_in = min(img.shape[1], wp * row)
    full = w_in // row  # patches entirely inside the image
    X = np.empty((wp, P), np.float32)
    for i in range(i0, i1):
        for dy in range(p):
            y = min(i * p + dy, h_in - 1)  # below the image: its last row
            o = dy * row
            src = img[y]
            for j in range(full):  # (1-D views: LLVM vectorises these loops)
                b = j * row
                xr = X[j, o:o + row]
                sr = src[b:b + row]
                for t in range(row):
                    xr[t] = sr[t]
            for j in range(full, wp):
                b = j * row
                for t in range(row):
                    x = b + t
                    if x < w_in:
                        X[j, o + t] = img[y, x]
                    else:  # right of the image: its last pixel
                        X[j, o + t] = img[y, w_in - 3 + (x - w_in) % 3]
        for j in range(wp):  # channels four, two, one at a time: each x loaded once
            xj = X[j]
            k = 0
            while k + 4 <= c:
                A0, A1, A2, A3 = A[k], A[k + 1], A[k + 2], A[k + 3]
                a0 = a1 = a2 = a3 = np.float32(0.0)
                for u in range(P):
                    x = xj[u]
                    a0 += x * A0[u]
                    a1 += x * A1[u]
                    a2 += x * A2[u]
                    a3 += x * A3[u]
                out[i, j, k] = a0 + bias[k]
                out[i, j, k + 1] = a1 + bias[k + 1]
                out[i, j, k + 2] = a2 + bias[k + 2]
                out[i, j, k + 3] = a3 + bias[k + 3]
                k += 4
            if k + 2 <= c:
                A0, A1 = A[k], A[k + 1]
                a0 = a1 = np.float32(0.0)
                for u in range(P):
                    x = xj[u]
                    a0 += x * A0[u]
                    a1 += x * A1[u]
                out[i, j, k] = a0 + bias[k]
                out[i, j, k + 1] = a1 + bias[k + 1]
                k += 2
            if k < c:
                A0 = A[k]
                a0 = np.float32(0.0)
                for u in range(P):
                    a0 += xj[u] * A0[u]
                out[i, j, k] = a0 + bias[k]


@njit(cache=True, nogil=True)
def frame_softsign(z, g, s):
    """y = g z / (s + |z|) in place, per channel (exact IEEE float32, no fastmath)."""
    hp, wp, c = z.shape
    for i in range(hp):
        for j in range(wp):
            for k in range(c):
                v = z[i, j, k]
                z[i, j, k] = (v * g[k]) / (s[k] + abs(v))


@njit(cache=True, nogil=True)
def frame_quantise(y, k, scale, lim, qp):
    """qp[2:, 2:w+2] = clip(rint(y[:, :, k] * scale), -lim, lim): the zero-padded grid of
    the context kernels (as ``entropy.quantise`` and ``entropy.padded``)."""
    h, w = y.shape[0], y.shape[1]
    for i in range(h):
        for j in range(w):
            v = np.rint(y[i, j, k] * scale)
            if v > lim:
                v = lim
            elif v < -lim:
                v = -lim
            qp[i + 2, j + 2] = np.int32(v)


# ------------------------------------------------------------------------------------
# context model, one row at a time


#: a position's symbol, table row and escape magnitude packed in one int32
PACK_ROW, PACK_ESC = 6, 16  # sym < 64, row < 1024, escape < 32768


@njit(cache=True, nogil=True)
def frame_ctx_rows(qp, p0, p1, p2, prm, thr, cost, esc_cost, i0, i1, step, out):
    """Context pass over rows i0, i0 + step, ... < i1 of one channel.

    qp: the channel's zero-padded grid (h + 2, w + 3) int32; p0..p2 the previous
    channels' padded grids (an all-zero grid where absent); prm as the kernels'
    parameter vector; cost: (buckets, 2K + 3) int64 table of -log2 p * 256.
    Returns the ideal code length of those rows (1/256 bit).  If ``out`` has rows,
    each position's symbol s, table row r and escape magnitude e are written there
    in raster order as s | r << PACK_ROW | e << PACK_ESC (int32 (h, w)).

    The integers of SPEC.md section 4 are computed in float64, exactly: every
    value is an integer far below 2**53 (|q| <= 2032, weights < 2**15), the
    mean's shift is a multiplication by 2**-12 and a floor.  float64 lets LLVM
    vectorise the products and absolute values (AVX2 has no 64-bit integer
    multiply); the result is the same as kernels._ctx_at's."""
    w = qp.shape[1] - 3
    K = prm[PRM_K]
    base = prm[PRM_BASE]
    top = 2 * K + 2
    ne = esc_cost.shape[0]
    s0, s1, s2 = prm[PRM_SH], prm[PRM_SH + 1], prm[PRM_SH + 2]
    W = PRM_WMU
    w0, w1, w2 = float(prm[W]), float(prm[W + 1]), float(prm[W + 2])
    w3, w4, w5 = float(prm[W + 3]), float(prm[W + 4]), float(prm[W + 5])
    w6, w7, w8 = float(prm[W + 6]), float(prm[W + 7]), float(prm[W + 8])
    V = PRM_VSC
    v0, v1, v2 = float(prm[V]), float(prm[V + 1]), float(prm[V + 2])
    v3, v4, v5 = float(prm[V + 3]), float(prm[V + 4]), float(prm[V + 5])
    v6, v7, v8 = float(prm[V + 6]), float(prm[V + 7]), float(prm[V + 8])
    v9, v10, v11 = float(prm[V + 9]), float(prm[V + 10]), float(prm[V + 11])
    v12, v13 = float(prm[V + 12]), float(prm[V + 13])
    c0 = float(prm[PRM_C0])
    qlim = float(prm[PRM_LIM])
    inv = 1.0 / (1 << FP)
    half = float(1 << (FP - 1))
    nthr = thr.shape[0]
    thf = np.empty(nthr, np.float64)
    for t in range(nthr):
        thf[t] = thr[t]
    nsym = cost.shape[1]
    costf = cost.ravel()
    write = out.shape[0] > 0
    a0r = np.empty(w, np.float64)
    a1r = np.empty(w, np.float64)
    a2r = np.empty(w, np.float64)
    qn = np.empty(w + 3, np.float64)
    qnn = np.empty(w + 3, np.float64)
    qc = np.empty(w + 3, np.float64)
    mrow = np.empty(w, np.float64)
    arow = np.empty(w, np.float64)
    brow = np.empty(w, np.int64)
    srow = np.empty(w, np.int64)
    total = np.int64(0)
    for i in range(i0, i1, step):
        r0 = (i >> s0) + 2
        r1 = (i >> s1) + 2
        r2 = (i >> s2) + 2
        for j in range(w):
            a0r[j] = p0[r0, (j >> s0) + 2]
            a1r[j] = p1[r1, (j >> s1) + 2]
            a2r[j] = p2[r2, (j >> s2) + 2]
        for j in range(w + 3):
            qn[j] = qp[i + 1, j]
            qnn[j] = qp[i, j]
            qc[j] = qp[i + 2, j]
        for j in range(w):  # vectorised: no branches
            n = qn[j + 2]
            nw = qn[j + 1]
            nE = qn[j + 3]
            nn = qnn[j + 2]
            wv = qc[j + 1]
            ww = qc[j]
            a0 = a0r[j]
            a1 = a1r[j]
            a2 = a2r[j]
            mu = (w0 * n + w1 * nw + w2 * nE + w3 * nn + w4 * wv + w5 * ww + w6 * a0
                  + w7 * a1 + w8 * a2)
            m = np.floor((mu + half) * inv)
            mrow[j] = min(max(m, -qlim), qlim)
            arow[j] = (c0 + v0 * abs(n) + v1 * abs(nw) + v2 * abs(nE) + v3 * abs(nn)
                       + v4 * abs(wv) + v5 * abs(ww) + v6 * abs(a0) + v7 * abs(a1)
                       + v8 * abs(a2) + v9 * abs(n - nw) + v10 * abs(n - nE)
                       + v11 * abs(n - nn) + v12 * abs(wv - nw) + v13 * abs(wv - ww))
        for j in range(w):
            brow[j] = 0
        for t in range(nthr):  # bucket = thresholds <= act (thr increasing)
            th = thf[t]
            for j in range(w):
                brow[j] += 1 if arow[j] >= th else 0
        for j in range(w):  # symbol (residual clipped to the escapes) -> table index
            s = min(max(qc[j + 2] - mrow[j] + (K + 1), 0.0), float(top))
            srow[j] = np.int64(s) + brow[j] * nsym
        for j in range(w):
            total += costf[srow[j]]
        for j in range(w):
            s = srow[j] - brow[j] * nsym
            e = 0
            if s == 0 or s == top:  # escapes: rare
                r = np.int64(qc[j + 2] - mrow[j])
                e = -r - K - 1 if s == 0 else r - K - 1
                total += esc_cost[min(e, ne - 1)]
            if write:
                out[i, j] = s | ((brow[j] + base) << PACK_ROW) | (e << PACK_ESC)
    return total


# ------------------------------------------------------------------------------------
# entropy coding




@njit(cache=True, nogil=True, inline="always")
def _ans_put(state, s, r, cdf, words, nw):
    sh = np.uint64(64 - ANS_PRECISION)
    lo = np.uint64(cdf[r, s])
    p = np.uint64(cdf[r, s + 1]) - lo
    if (state >> sh) >= p:
        words[nw] = np.uint32(state & np.uint64(0xFFFFFFFF))
        nw += 1
        state = state >> np.uint64(32)
    state = ((state // p) << np.uint64(ANS_PRECISION)) | (state % p + lo)
    return state, nw


@njit(cache=True, nogil=True, inline="always")
def _ans_flush(state, words, nw):
    if state != np.uint64(0):
        words[nw] = np.uint32(state & np.uint64(0xFFFFFFFF))
        nw += 1
        hi = state >> np.uint64(32)
        if hi != np.uint64(0):
            words[nw] = np.uint32(hi)
            nw += 1
    return nw


@njit(cache=True, nogil=True)
def frame_ans_encode(packed, offs, hs, ws, cdf, esc_cdf, words, esc_words, rev):
    """Both ANS streams of a frame (SPEC.md section 4), from raster arrays.

    packed: the channels' raster (h, w) arrays of ``frame_ctx_rows`` flattened and
    concatenated, channel c at offs[c]; cdf/esc_cdf: quantised CDF rows
    (fast_ans.quantised_cdf).  The main stream holds channels 0..n-1 in wavefront
    order, the escape stream each escape magnitude e as (e >> 6 under row 0, e & 63
    under row 1) in the same order; stack ANS encodes the last symbol first, so
    both are walked backwards.  Returns (main words, escapes, escape words) with
    the words in ``words`` / ``esc_words``; (-1, 0, 0) if a symbol is outside its
    row."""
    state = np.uint64(0)
    nw = 0
    n_esc = 0
    k = cdf.shape[1] - 1
    top = k - 1
    for c in range(offs.shape[0] - 1, -1, -1):
        h = hs[c]
        w = ws[c]
        off = offs[c]
        for t in range(2 * (h - 1) + w - 1, -1, -1):
            lo, hi = _wave_range(t, h, w)
            for i in range(hi - 1, lo - 1, -1):
                v = packed[off + i * w + t - 2 * i]
                s = v & 63
                if s >= k:
                    return -1, 0, 0
                state, nw = _ans_put(state, s, (v >> PACK_ROW) & 1023, cdf, words, nw)
                if s == 0 or s == top:
                    rev[n_esc] = v >> PACK_ESC
                    n_esc += 1
    nw = _ans_flush(state, words, nw)
    state = np.uint64(0)
    ne = 0
    for q in range(n_esc):
        e = rev[q]
        if e >= 4096:
            return -1, 0, 0
        state, ne = _ans_put(state, e & 63, 1, esc_cdf, esc_words, ne)
        state, ne = _ans_put(state, e >> 6, 0, esc_cdf, esc_words, ne)
    ne = _ans_flush(state, esc_words, ne)
    return nw, n_esc, ne
