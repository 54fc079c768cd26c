"""Fitting the integer context model and the rate-control path (export time only).

Called by ``models/train_frappe.py export`` after training:

* :func:`fit_tables` turns the trained Laplace context model into integers
  (fixed-point mean weights and scale-activity weights) and counts, over the
  TRAINING split's latents at several quantisation steps, the residual
  histogram of every (channel, scale bucket): these become the integer
  frequency tables constriction codes with (smoothed with a discretised
  Laplace prior, every entry >= 1, rows summing to 2**16).
* :func:`fit_path` measures, on the held-out VALIDATION split, mean bpp and PSNR
  of every (channel count n, step D) pair and keeps, for a grid of target rates,
  the n with the best PSNR there and the D that reaches it on average.  The
  codec's rate control starts from that table.
"""

from __future__ import annotations

import math

import numpy as np

K = 20  # residual alphabet -K..K plus two escape symbols
SIGMAS = 0.1 * (600.0 ** (np.arange(24) / 23.0))  # bucket thresholds (q units), 0.1..60
TOTAL = 1 << 16
FIT_STEPS = (256, 320, 400, 512, 640, 800, 1024, 1400, 2048)
PATH_STEPS = (256, 330, 430, 560, 730, 950, 1240, 1600, 2048)
PATH_GRID = np.exp(np.linspace(math.log(0.01), math.log(2.0), 97))


def _softplus(a):
    return np.log1p(np.exp(-np.abs(a))) + np.maximum(a, 0)


def _to_freqs(counts: np.ndarray, prior: np.ndarray, prior_weight: float) -> np.ndarray:
    """Counts + prior pseudo-counts -> integer row with sum TOTAL and every entry >= 1."""
    n = counts.sum()
    p = (counts + prior_weight * prior / prior.sum()) / (n + prior_weight)
    f = np.maximum(1, np.floor(p * (TOTAL - p.size)).astype(np.int64))
    f[np.argmax(f)] += TOTAL - f.sum()
    assert f.min() >= 1 and f.sum() == TOTAL
    return f


def _laplace_prior(sigma: float) -> np.ndarray:
    """Discretised Laplace over residuals -K..K, tails in the two escape symbols."""
    b = max(sigma, 0.05) / math.sqrt(2.0)
    edges = np.arange(-K - 0.5, K + 1.5)  # 2K+2 edges
    cdf = np.where(edges < 0, 0.5 * np.exp(edges / b), 1 - 0.5 * np.exp(-edges / b))
    mid = np.diff(cdf)
    return np.concatenate([[cdf[0]], mid, [1 - cdf[-1]]]) + 1e-9


def integer_ctx(arrays: dict) -> dict:
    """Fixed-point context parameters from the trained float ones."""
    from squeeze_image.kernels import FP

    one = 1 << FP
    return {
        "ctx_K": np.int32(K),
        "ctx_wmu": np.round(arrays["ctx_w_mu"].astype(np.float64) * one).astype(np.int64),
        "ctx_vsc": np.round(arrays["ctx_v_sc"].astype(np.float64) * one).astype(np.int64),
        "ctx_c0": np.round((_softplus(arrays["ctx_a_sc"].astype(np.float64)) + 0.05) * one)
        .astype(np.int64),
        "ctx_thr": np.round(SIGMAS * one).astype(np.int64),
    }


def fit_tables(arrays: dict, imgs: np.ndarray) -> dict:
    from squeeze_image import entropy, kernels as kk
    from squeeze_image.model import ESC_LEN, Model

    out = integer_ctx(arrays)
    model = Model({**arrays, **out, "ctx_freqs": np.ones((1, 1, 1)), "esc_freqs": np.ones(1)}, "fit")
    nb1 = len(SIGMAS) + 1
    A = 2 * K + 3
    counts = np.zeros((model.n_ch, nb1, A), np.int64)
    esc_counts = np.zeros(ESC_LEN, np.int64)
    for im in imgs:
        ys = model.analysis(im, model.n_ch)
        for D in FIT_STEPS:
            qs = [entropy.quantise(y, D) for y in ys]
            lim = entropy.qlimit(D)
            for k in range(model.n_ch):
                p0, p1, p2, rr, n_prev = entropy._prev(qs, k, qs[k].shape)
                m = qs[k].size
                sym = np.empty(m, np.int32)
                bkt = np.empty(m, np.int64)
                esc = np.empty(m, np.int64)
                ne = kk.ctx_channel_encode(qs[k], p0, p1, p2, rr, n_prev, model.ctx_wmu[k], model.ctx_vsc[k],
                                           entropy.step_c0(model, k, D), model.ctx_thr, lim, K,
                                           sym, bkt, esc, 0)
                np.add.at(counts[k], (bkt, sym), 1)
                if ne:
                    esc_counts += np.bincount(np.minimum(esc[:ne], ESC_LEN - 1), minlength=ESC_LEN)
    freqs = np.zeros_like(counts)
    centres = np.concatenate([[SIGMAS[0] * 0.7], np.sqrt(SIGMAS[:-1] * SIGMAS[1:]), [SIGMAS[-1] * 1.4]])
    for k in range(model.n_ch):
        for b in range(nb1):
            freqs[k, b] = _to_freqs(counts[k, b], _laplace_prior(centres[b]), 30.0)
    esc_prior = 0.9 ** np.arange(ESC_LEN)
    out["ctx_freqs"] = freqs.astype(np.int32)
    out["esc_freqs"] = _to_freqs(esc_counts, esc_prior, 50.0).astype(np.int32)
    out["fit_counts"] = counts.astype(np.int64)
    return out


def fit_path(arrays: dict, val: np.ndarray, log=print) -> dict:
    """Mean (bpp, PSNR) per (n, D) on the validation split -> best n per target rate."""
    from squeeze_image import entropy
    from squeeze_image.model import Model

    model = Model(arrays, "fit")
    ns = list(range(1, model.n_ch + 1))
    bpp = np.zeros((len(ns), len(PATH_STEPS)))
    mse = np.zeros((len(ns), len(PATH_STEPS)))
    for im in val:
        H, W, _ = im.shape
        ys = model.analysis(im, model.n_ch)
        ref = im.astype(np.float64)
        for di, D in enumerate(PATH_STEPS):
            qs = [entropy.quantise(y, D) for y in ys]
            for ni, n in enumerate(ns):
                bits = entropy.estimate_bits(model, qs, n, D)
                rec = model.synthesis(qs, n, D / 256.0, H, W, H, W)
                bpp[ni, di] += bits / (H * W) / len(val)
                mse[ni, di] += np.mean((rec - ref) ** 2) / len(val)
    psnr = 10 * np.log10(255.0 ** 2 / mse)
    for ni, n in enumerate(ns):
        log(f"path n={n}: " + " ".join(f"D{D}:{b:.4f}/{p:.2f}" for D, b, p in
                                        zip(PATH_STEPS, bpp[ni], psnr[ni])))
    path_n = np.zeros(PATH_GRID.size, np.int64)
    path_d = np.zeros(PATH_GRID.size, np.int64)
    lsteps = np.log(np.array(PATH_STEPS, np.float64))
    for gi, R in enumerate(PATH_GRID):
        best = None
        for ni, n in enumerate(ns):
            lb = np.log(bpp[ni])  # decreasing in D
            if not lb[-1] <= math.log(R) <= lb[0]:
                continue
            x = np.interp(math.log(R), lb[::-1], np.arange(len(PATH_STEPS))[::-1].astype(float))
            p = np.interp(x, np.arange(len(PATH_STEPS)), psnr[ni])
            d = math.exp(np.interp(x, np.arange(len(PATH_STEPS)), lsteps))
            if best is None or p > best[0]:
                best = (p, n, d)
        if best is None:  # outside every n's range: nearest end of the model's range
            if R < bpp[:, -1].min():
                best = (0, int(ns[int(np.argmin(bpp[:, -1]))]), PATH_STEPS[-1])
            else:
                best = (0, ns[-1], PATH_STEPS[0])
        path_n[gi] = best[1]
        path_d[gi] = int(round(min(max(best[2], PATH_STEPS[0]), PATH_STEPS[-1])))
    return {"path_bpp": PATH_GRID.astype(np.float64), "path_n": path_n, "path_d": path_d,
            "val_bpp": bpp, "val_psnr": psnr, "val_steps": np.array(PATH_STEPS, np.int64)}
