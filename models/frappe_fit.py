"""Fitting the integer context model and the rate-control path (export time only).

Tooling (not shipped with the codec): called by ``models/train_frappe.py export``
after training:

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

import bisect
import math

import numpy as np

K = 20  # residual alphabet -K..K plus two escape symbols
SIGMAS = 0.1 * (600.0 ** (np.arange(24) / 23.0))  # bucket thresholds (q units), 0.1..60
TOTAL = 1 << 16
FIT_STEPS = (32, 64, 90, 128, 180, 256, 320, 400, 512, 640, 800, 1024, 1400, 2048)
PATH_STEPS = (16, 32, 64, 90, 128, 170, 225, 300, 400, 530, 700, 930, 1240, 1600, 2048)
# entropy tables per range of steps (SPEC.md section 4): five edges, six sets, each
# range holding two or three of FIT_STEPS (measured against one set on the validation
# photographs: docs/bench-image.md)
STEP_EDGES = (75, 150, 300, 600, 1200)
PATH_GRID = np.exp(np.linspace(math.log(0.01), math.log(2.0), 97))


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


def _features(qs: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's context features for every position of channel k (numpy mirror of
    ``kernels._ctx_at``): mean features (m, 9) and activity features (m, 14), float64."""
    q = qs[k].astype(np.int64)
    h, w = q.shape
    pad = np.zeros((h + 2, w + 4), np.int64)
    pad[2:, 2:-2] = q
    n = pad[1:h + 1, 2:w + 2]
    nw = pad[1:h + 1, 1:w + 1]
    ne = pad[1:h + 1, 3:w + 3]
    nn = pad[0:h, 2:w + 2]
    wv = pad[2:h + 2, 1:w + 1]
    ww = pad[2:h + 2, 0:w]
    prev = []
    for t in range(3):
        j = k - 1 - t
        if j < 0:
            prev.append(np.zeros_like(q))
            continue
        r = h // qs[j].shape[0]
        prev.append(np.repeat(np.repeat(qs[j].astype(np.int64), r, 0), r, 1))
    mu_f = np.stack([n, nw, ne, nn, wv, ww] + prev, -1).reshape(-1, 9)
    grads = np.stack([np.abs(n - nw), np.abs(n - ne), np.abs(n - nn), np.abs(wv - nw),
                      np.abs(wv - ww)], -1).reshape(-1, 5)
    sc_f = np.concatenate([np.abs(mu_f), grads], 1)
    return mu_f.astype(np.float64), sc_f.astype(np.float64)


def fit_ctx_ls(model, imgs: np.ndarray, steps=(90, 256, 1024), log=print) -> dict:
    """Least-squares context model on training latents.

    Mean: ridge regression of q on the 9 causal values.  Activity: least squares of
    |q - m| on (256 / D, the 14 magnitude features), i.e. E|r| ~ c0 / step + V . f.
    Weights in 1/4096 (kernels.FP)."""
    from squeeze_image import entropy
    from squeeze_image.kernels import FP, N_MU, N_SC

    one = 1 << FP
    n_ch = model.n_ch
    A = [np.zeros((N_MU, N_MU)) for _ in range(n_ch)]
    bvec = [np.zeros(N_MU) for _ in range(n_ch)]
    data = [[] for _ in range(n_ch)]
    rng = np.random.default_rng(0)
    for im in imgs:
        ys = model.analysis(im, n_ch)  # with the encoder's dead-zone rounding
        for D in steps:
            qs = [entropy.quantise(y, D) for y in ys]
            for k in range(n_ch):
                mf, sf = _features(qs, k)
                t = qs[k].reshape(-1).astype(np.float64)
                A[k] += mf.T @ mf
                bvec[k] += mf.T @ t
                if t.size > 4096:  # the activity fit needs far fewer samples
                    sel = rng.choice(t.size, 4096, replace=False)
                    mf, sf, t = mf[sel], sf[sel], t[sel]
                data[k].append((mf, sf, t, D))
    wmu = np.zeros((n_ch, N_MU), np.int64)
    vsc = np.zeros((n_ch, N_SC), np.int64)
    c0 = np.zeros(n_ch, np.int64)
    for k in range(n_ch):
        reg = 1e-4 * np.trace(A[k]) / N_MU + 1e-6
        w = np.linalg.solve(A[k] + reg * np.eye(N_MU), bvec[k])
        wmu[k] = np.round(w * one).astype(np.int64)
        X, y = [], []
        for mf, sf, t, D in data[k]:
            m = np.clip(np.floor(mf @ (wmu[k] / one) + 0.5), -127, 127)
            X.append(np.concatenate([np.full((sf.shape[0], 1), 256.0 / D), sf], 1))
            y.append(np.abs(t - m))
        X = np.concatenate(X)
        y = np.concatenate(y)
        coef = np.linalg.lstsq(X, y, rcond=None)[0]
        c0[k] = int(round(max(coef[0], 0.0) * one))
        vsc[k] = np.round(coef[1:] * one).astype(np.int64)
        log(f"ctx fit channel {k}: mean weights {np.round(w, 3).tolist()}, "
            f"E|r| = {coef[0]:.3f}/step + {np.round(coef[1:], 3).tolist()}")
    return {"ctx_K": np.int32(K), "ctx_wmu": wmu, "ctx_vsc": vsc, "ctx_c0": c0,
            "ctx_thr": np.round(SIGMAS * one).astype(np.int64)}


def fit_counts(arrays: dict, imgs: np.ndarray, log=print) -> tuple[dict, np.ndarray, np.ndarray]:
    """The least-squares context model (:func:`fit_ctx_ls`) and, under it, the residual
    histograms of the training latents: (ctx arrays, counts (len(FIT_STEPS), n_ch,
    NB + 1, 2K + 3) per step of FIT_STEPS, escape-value counts (ESC_LEN,))."""
    from squeeze_image import entropy, kernels as kk
    from squeeze_image.entropy import ESC_LEN, ESC_SPLIT
    from squeeze_image.model import Model

    out = fit_ctx_ls(Model(arrays, "fit"), imgs[::3], log=log)
    model = Model({**arrays, **out, "ctx_freqs": np.ones((len(arrays["patches"]), 1, 1)),
                   "esc_freqs": np.ones((2, ESC_SPLIT))}, "fit")
    nb1 = len(SIGMAS) + 1
    A = 2 * K + 3
    counts = np.zeros((len(FIT_STEPS), model.n_ch, nb1, A), np.int64)
    esc_counts = np.zeros(ESC_LEN, np.int64)
    for im in imgs:
        ys = model.analysis(im, model.n_ch)  # with the encoder's rounding
        for si, D in enumerate(FIT_STEPS):
            qs = [entropy.quantise(y, D) for y in ys]
            for k in range(model.n_ch):
                p0, p1, p2, prm = entropy.channel_params(model, qs, k, qs[k].shape, D)
                m = qs[k].size
                sym = np.empty(m, np.int32)
                bkt = np.empty(m, np.int64)
                esc = np.empty(m, np.int64)
                ne = kk.ctx_channel_encode(entropy.padded(qs[k]), p0, p1, p2, prm, model.ctx_thr,
                                           sym, bkt, esc, 0)
                bkt -= prm[kk.PRM_BASE]
                np.add.at(counts[si, k], (bkt, sym), 1)
                if ne:
                    esc_counts += np.bincount(np.minimum(esc[:ne], ESC_LEN - 1), minlength=ESC_LEN)
    return out, counts, esc_counts


def step_ranges(edges) -> list[list[int]]:
    """For step edges e_1 < ... (range r: the steps D with r edges <= D), the indices
    into FIT_STEPS of each range's steps; every range must hold at least one."""
    groups = [[] for _ in range(len(edges) + 1)]
    for si, D in enumerate(FIT_STEPS):
        groups[bisect.bisect_right(list(edges), D)].append(si)
    if list(edges) != sorted(set(edges)) or not all(groups):
        raise ValueError(f"step edges {list(edges)} leave a range without a fitted step")
    return groups


def tables_from_counts(counts: np.ndarray, esc_counts: np.ndarray, edges=()) -> dict:
    """The frequency tables from :func:`fit_counts`' histograms: one set per range of
    steps (``edges``: SPEC.md section 4; none: one table per channel for all steps),
    each row smoothed with a discretised Laplace prior at its bucket's scale."""
    from squeeze_image.entropy import ESC_LEN, ESC_SPLIT

    groups = step_ranges(edges)
    _, n_ch, nb1, _ = counts.shape
    ranged = np.stack([counts[g].sum(0) for g in groups])  # (R, n_ch, nb1, A)
    freqs = np.zeros_like(ranged)
    centres = np.concatenate([[SIGMAS[0] * 0.7], np.sqrt(SIGMAS[:-1] * SIGMAS[1:]),
                              [SIGMAS[-1] * 1.4]])
    for r in range(len(groups)):
        for k in range(n_ch):
            for b in range(nb1):
                freqs[r, k, b] = _to_freqs(ranged[r, k, b], _laplace_prior(centres[b]), 30.0)
    out = {}
    if len(groups) > 1:
        out["ctx_step_edges"] = np.array(edges, np.int64)
    else:  # one range: the layout of the models before ranges
        freqs, ranged = freqs[0], ranged[0]
    out["ctx_freqs"] = freqs.astype(np.int32)
    hi = np.bincount(np.arange(ESC_LEN) // ESC_SPLIT, weights=esc_counts, minlength=ESC_SPLIT)
    lo = np.bincount(np.arange(ESC_LEN) % ESC_SPLIT, weights=esc_counts, minlength=ESC_SPLIT)
    out["esc_freqs"] = np.stack([
        _to_freqs(hi, 0.5 ** np.arange(ESC_SPLIT), 20.0),
        _to_freqs(lo, 0.97 ** np.arange(ESC_SPLIT), 20.0)]).astype(np.int32)
    out["fit_counts"] = ranged.astype(np.int64)
    return out


def fit_tables(arrays: dict, imgs: np.ndarray, log=print, edges=()) -> dict:
    """The integer context model of a trained network: :func:`fit_counts` on the
    training images, then :func:`tables_from_counts` (one table set per range of
    steps that ``edges`` delimit)."""
    step_ranges(edges)  # refuse bad edges before the long count
    out, counts, esc_counts = fit_counts(arrays, imgs, log=log)
    return {**out, **tables_from_counts(counts, esc_counts, edges)}


def fit_path(arrays: dict, val: np.ndarray, log=print, msssim=None,
             msssim_weight: float = 0.5, jobs: int = 1) -> dict:
    """Mean (bpp, PSNR[, MS-SSIM]) per (n, D) on the validation split -> best n per
    target rate (``choose_path``)."""
    from squeeze_image.model import Model

    model = Model(arrays, "fit")
    grids = measure_path(model, val, log, msssim, jobs=jobs, arrays=arrays)
    return {**choose_path(grids, model.n_ch, msssim_weight), **grids}


def measure_path(model, val: np.ndarray, log=print, msssim=None, jobs: int = 1,
                 arrays: dict | None = None) -> dict:
    """The validation grids the rate path is chosen from: mean bpp, PSNR and (with
    ``msssim``, a function of two uint8 images) MS-SSIM per (channel count, step).

    ``jobs`` > 1 (with the model's ``arrays``) measures the images in that many
    worker processes; the per-image results are summed here in image order, so the
    grids are the same to the bit whatever ``jobs`` is."""
    ns = path_channel_counts(model.n_ch)
    bpp = np.zeros((len(ns), len(PATH_STEPS)))
    mse = np.zeros((len(ns), len(PATH_STEPS)))
    ms = np.zeros((len(ns), len(PATH_STEPS)))
    if jobs > 1 and arrays is not None and len(val) > 1:
        import concurrent.futures as cf
        import multiprocessing as mp

        with cf.ProcessPoolExecutor(jobs, mp.get_context("spawn"), initializer=_worker_init,
                                    initargs=(arrays, msssim)) as pool:
            per_image = list(pool.map(_worker_image, list(val)))
    else:
        per_image = (_image_grids(model, im, ns, msssim) for im in val)
    for b_, m_, s_ in per_image:
        bpp += b_ / len(val)
        mse += m_ / len(val)
        ms += s_ / len(val)
    psnr = 10 * np.log10(255.0 ** 2 / mse)
    for ni, n in enumerate(ns):
        log(f"path n={n}: " + " ".join(f"D{D}:{b:.4f}/{p:.2f}" for D, b, p in
                                        zip(PATH_STEPS, bpp[ni], psnr[ni])))
    out = {"val_bpp": bpp, "val_psnr": psnr, "val_steps": np.array(PATH_STEPS, np.int64)}
    if msssim is not None:
        out["val_msssim"] = ms
    return out


def _image_grids(model, im: np.ndarray, ns: list[int], msssim) -> tuple:
    """One image's (bpp, MSE, MS-SSIM) per (channel count, step)."""
    from squeeze_image import entropy

    H, W, _ = im.shape
    bpp = np.zeros((len(ns), len(PATH_STEPS)))
    mse = np.zeros((len(ns), len(PATH_STEPS)))
    ms = np.zeros((len(ns), len(PATH_STEPS)))
    ys = model.analysis(im, model.n_ch)
    ref = im.astype(np.float64)
    for di, D in enumerate(PATH_STEPS):
        qs = [entropy.quantise(y, D) for y in ys]
        for ni, n in enumerate(ns):
            bits = entropy.estimate_bits(model, qs, n, D)
            rec = model.synthesis(qs, n, D / 256.0, H, W, H, W)
            bpp[ni, di] = bits / (H * W)
            mse[ni, di] = np.mean((rec - ref) ** 2)
            if msssim is not None:
                ms[ni, di] = msssim(im, rec)
    return bpp, mse, ms


_WORKER: dict = {}


def _worker_init(arrays: dict, msssim) -> None:
    import numba

    from squeeze_image.model import Model

    numba.set_num_threads(1)  # the processes share the cores, not each one's threads
    _WORKER["model"] = Model(arrays, "fit")
    _WORKER["msssim"] = msssim


def _worker_image(im: np.ndarray) -> tuple:
    mdl = _WORKER["model"]
    return _image_grids(mdl, im, path_channel_counts(mdl.n_ch), _WORKER["msssim"])


def path_channel_counts(n_ch: int) -> list[int]:
    """The channel counts the path considers (large models: a subset; synthesis is
    the cost of measuring them)."""
    if n_ch <= 24:
        return list(range(1, n_ch + 1))
    return sorted(set(list(range(1, 10)) + list(range(10, n_ch + 1, 2)) + [n_ch]))


def choose_path(grids: dict, n_ch: int, msssim_weight: float = 0.5) -> dict:
    """Best channel count and step per PATH_GRID rate from ``measure_path``'s grids.

    The best n maximises PSNR, plus ``msssim_weight`` times MS-SSIM in dB
    (-10 log10(1 - MS-SSIM)) where the grids have it: channel counts of about equal
    PSNR at a rate can differ by 0.007 in MS-SSIM (0.1 bpp), while weight 1 gave up
    0.2 dB of PSNR at 0.2-0.4 bpp on the held-out photographs for 0.002."""
    bpp, psnr = grids["val_bpp"], grids["val_psnr"]
    steps = [int(d) for d in grids["val_steps"]]
    ns = path_channel_counts(n_ch)
    score = psnr
    if "val_msssim" in grids and msssim_weight:
        score = psnr - msssim_weight * 10 * np.log10(np.maximum(1 - grids["val_msssim"], 1e-6))
    path_n = np.zeros(PATH_GRID.size, np.int64)
    path_d = np.zeros(PATH_GRID.size, np.int64)
    lsteps = np.log(np.array(steps, np.float64))
    for gi, R in enumerate(PATH_GRID):
        best = None
        for ni, n in enumerate(ns):
            lb = np.log(bpp[ni])  # decreasing in D
            if not lb[-1] <= math.log(R) <= lb[0]:
                continue
            x = np.interp(math.log(R), lb[::-1], np.arange(len(steps))[::-1].astype(float))
            p = np.interp(x, np.arange(len(steps)), score[ni])
            d = math.exp(np.interp(x, np.arange(len(steps)), lsteps))
            if best is None or p > best[0]:
                best = (p, n, d)
        if best is None:  # outside every n's range: nearest end of the model's range
            if R < bpp[:, -1].min():
                best = (0, int(ns[int(np.argmin(bpp[:, -1]))]), steps[-1])
            else:
                best = (0, ns[-1], steps[0])
        path_n[gi] = best[1]
        path_d[gi] = int(round(min(max(best[2], steps[0]), steps[-1])))
    return {"path_bpp": PATH_GRID.astype(np.float64), "path_n": path_n, "path_d": path_d}
