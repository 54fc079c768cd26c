"""FRAPPE-Image inference: weights, analysis (encoder), synthesis (decoder).

numpy + numba only (no torch at run time).  The analysis transform may use
BLAS (its floats only choose the latents, which are then sent exactly); the
synthesis transform uses the deterministic kernels of ``kernels.py`` so that
the encoder's reconstruction and the decoder's output agree bit for bit.
"""

from __future__ import annotations

import bisect
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from frappe_cli.errors import SqueezeError
from squeeze_image.entropy import ESC_LEN, ESC_SPLIT

MODEL_NAME = "frappe-image"  # the default (codec.TUNE_MODELS["psnr"])


@dataclass
class Group:
    patch: int
    first: int
    count: int


class Model:
    """Everything the codec needs, as float32/int64 arrays in kernel layouts."""

    def __init__(self, z: dict, ident: str):
        self.ident = ident  # sha256 prefix of the model file, stored in every payload
        self.patches = [int(p) for p in z["patches"]]
        self.n_ch = len(self.patches)
        self.grid = int(z["grid"])
        self.dim = int(z["dim"])
        self.blocks = int(z["blocks"])
        self.groups: list[Group] = []
        for i, p in enumerate(self.patches):
            if self.groups and self.groups[-1].patch == p:
                self.groups[-1].count += 1
            else:
                self.groups.append(Group(p, i, 1))
        self.max_patch = max(self.patches)
        # --- encoder: per group, weights over a (dy, dx, channel) patch vector of raw
        # uint8 values (the [-1, 1] scaling is folded in): z = u @ A + c
        self.enc_s = z["enc_s"].astype(np.float32)
        self.enc_g = z["enc_g"].astype(np.float32)
        self.enc_a, self.enc_c = [], []
        for gi, g in enumerate(self.groups):
            w = z[f"enc{gi}_w"].astype(np.float64)  # (c, 3, p, p)
            b = z[f"enc{gi}_b"].astype(np.float64)
            wt = w.transpose(0, 2, 3, 1).reshape(g.count, g.patch, -1)  # (c, dy, dx*3 + ch)
            self.enc_a.append(np.ascontiguousarray((wt / 127.5).astype(np.float32)))
            self.enc_c.append((b - wt.sum((1, 2))).astype(np.float32))
        # --- decoder (kernel layouts)
        self.in_w = np.ascontiguousarray(z["dec_in_w"].transpose(2, 3, 1, 0), np.float32)
        self.in_b = z["dec_in_b"].astype(np.float32)
        self.dec_in = self.in_w.shape[2]
        self.blk = []
        for i in range(self.blocks):
            self.blk.append(dict(
                dw_w=np.ascontiguousarray(z[f"b{i}_dw_weight"][:, 0].transpose(1, 2, 0),
                                          np.float32),
                dw_b=z[f"b{i}_dw_bias"].astype(np.float32),
                film_w=np.ascontiguousarray(z[f"b{i}_film_weight"], np.float32),
                film_b=z[f"b{i}_film_bias"].astype(np.float32),
                w1=np.ascontiguousarray(z[f"b{i}_pw1_weight"][:, :, 0, 0].T, np.float32),
                b1=z[f"b{i}_pw1_bias"].astype(np.float32),
                w2=np.ascontiguousarray(z[f"b{i}_pw2_weight"][:, :, 0, 0].T, np.float32),
                b2=z[f"b{i}_pw2_bias"].astype(np.float32),
                ls=z[f"b{i}_ls"].astype(np.float32),
            ))
        self.head_w = np.ascontiguousarray(z["head_w"][:, :, 0, 0].T, np.float32)
        self.head_b = z["head_b"].astype(np.float32)
        # model format 2 (SPEC.md section 5): coarse channels position-expanded on the
        # grid, the head reads [body output, decoder input] (a linear synthesis path)
        # and the encoder is closed-loop (each group codes what that path left)
        self.format = int(z["format"]) if "format" in z else 1
        self.expand = bool(int(z["expand"])) if "expand" in z else False
        self.skip = bool(int(z["skip"])) if "skip" in z else False
        self.cond_min = float(z["cond_min"]) if "cond_min" in z else 0.25
        self.slots = [(self.grid // p) ** 2 if p < self.grid else
                      ((p // self.grid) ** 2 if self.expand else 1) for p in self.patches]
        if self.format == 2:
            # encoder weights over float (dy, dx, channel) patch vectors of the residual
            self.enc_wf = []
            for gi, g in enumerate(self.groups):
                w = z[f"enc{gi}_w"].astype(np.float32)  # (c, 3, p, p)
                self.enc_wf.append(np.ascontiguousarray(
                    w.transpose(0, 2, 3, 1).reshape(g.count, -1).T))  # (p p 3, c)
            self.enc_bf = [z[f"enc{gi}_b"].astype(np.float32) for gi in range(len(self.groups))]
            # the same weights as (c, dy, dx * 3 + ch) rows for kernels.closed_project
            self.enc_rows = [np.ascontiguousarray(w.T.reshape(g.count, g.patch, g.patch * 3))
                             for w, g in zip(self.enc_wf, self.groups)]
            # the head's rows that read the decoder input: the linear synthesis path
            self.skip_w = np.ascontiguousarray(self.head_w[self.dim:])
        if self.head_w.shape[0] != self.dim + (self.dec_in if self.skip else 0) \
                or self.dec_in != sum(self.slots):
            raise SqueezeError("the image model file is inconsistent (decoder sizes)")
        self.inv_g = (np.float32(1.0) / self.enc_g).astype(np.float32)
        # SPEC.md section 5.2: a nonzero q is read as q + sign(q) * dq_expand (the
        # centroid of the encoder's dead-zone bins lies beyond q); 0 in models before it
        self.dq_expand = np.float32(z["dq_expand"]) if "dq_expand" in z else np.float32(0.0)
        # --- integer context model (absent while models/train_frappe.py fits it)
        self.has_ctx = "ctx_K" in z
        if self.has_ctx:
            self.K = int(z["ctx_K"])
            self.ctx_wmu = z["ctx_wmu"].astype(np.int64)  # (n_ch, 9)
            self.ctx_vsc = z["ctx_vsc"].astype(np.int64)  # (n_ch, 14)
            self.ctx_c0 = z["ctx_c0"].astype(np.int64)  # (n_ch,)
            self.ctx_thr = z["ctx_thr"].astype(np.int64)  # (NB,)
            # tables per range of steps (SPEC.md section 4): range r holds the steps D
            # with exactly r of the edges <= D; one range in models before them
            self.ctx_edges = tuple(int(e) for e in z["ctx_step_edges"]) \
                if "ctx_step_edges" in z else ()
            freqs = z["ctx_freqs"].astype(np.int64)  # ([R,] n_ch, NB + 1, 2K + 3)
            R = len(self.ctx_edges) + 1
            if freqs.ndim == 4 and freqs.shape[:2] == (R, self.n_ch):
                freqs = freqs.reshape(R * self.n_ch, *freqs.shape[2:])
            if (freqs.ndim != 3 or freqs.shape[0] != R * self.n_ch
                    or list(self.ctx_edges) != sorted(set(self.ctx_edges))):
                raise SqueezeError("the image model file is inconsistent (entropy tables)")
            self.freqs = freqs  # (R * n_ch, NB + 1, 2K + 3): row r * n_ch + k
            self.esc_freqs = z["esc_freqs"].astype(np.int64)  # (2, 64): high, low part
            tot = self.freqs.sum(-1, keepdims=True).astype(np.float64)
            self.cost = np.round(-np.log2(self.freqs / tot) * 256).astype(np.int64)
            ef = self.esc_freqs.astype(np.float64)
            ec = -np.log2(ef / ef.sum(1, keepdims=True)) * 256
            e = np.arange(ESC_LEN)
            self.esc_cost = np.round(ec[0][e // ESC_SPLIT] + ec[1][e % ESC_SPLIT]).astype(np.int64)
        # rate-control path (fitted on the validation split): see codec.py
        self.path_bpp = z["path_bpp"].astype(np.float64) if "path_bpp" in z else None
        self.path_n = z["path_n"].astype(np.int64) if "path_n" in z else None
        self.path_d = z["path_d"].astype(np.int64) if "path_d" in z else None
        self._tables = None
        self._fast = None
        self._lock = threading.RLock()
        self._closed: dict = {}  # recent images' closed-loop analysis states

    def freq_table(self):
        """The validated constriction table (built once, shared by all threads)."""
        if self._tables is None:
            from frappe_cli.coding import constriction_ans as ans

            with self._lock:
                if self._tables is None:
                    k = self.freqs.shape[-1]
                    self._tables = (ans.FreqTable(self.freqs.reshape(-1, k)),
                                    ans.FreqTable(self.esc_freqs))
        return self._tables

    def table(self, k: int, D: int) -> int:
        """Index of channel k's frequency table at step D (``freqs``, ``cost``)."""
        return bisect.bisect_right(self.ctx_edges, D) * self.n_ch + k

    def fast_coder(self):
        """The checked numba ANS encoder for this model's tables, or None when it
        does not reproduce constriction's bytes (then constriction encodes)."""
        if self._fast is None:
            from frappe_cli.coding import fast_ans

            with self._lock:
                if self._fast is None:
                    fc = fast_ans.IndexedEncoder(self.freqs.reshape(-1, self.freqs.shape[-1]),
                                           self.esc_freqs)
                    self._fast = fc if fc.ok else False
        return self._fast or None

    # ------------------------------------------------------------------------------
    def channel_shape(self, k: int, H: int, W: int) -> tuple[int, int]:
        p = self.patches[k]
        return H // p, W // p

    def analysis(self, img: np.ndarray, n: int, first: int = 0,
                 shape: tuple[int, int] | None = None, deadzone: float | None = None) -> list:
        """Channels first..n-1 of ``img``.  ``deadzone``: the closed-loop encoder's
        rounding (``entropy.quantise``; None: the encoder's own, ``entropy.DEADZONE``);
        format 1 channels are float latents that the caller quantises."""
        if self.format == 2:
            if deadzone is None:
                from squeeze_image import entropy

                deadzone = entropy.DEADZONE
            # closed loop: a channel's values depend on the step and on the channels
            # before it: lazy channels, quantised on demand per step, sharing one state
            # per image (so a later call for more channels reuses the coarser groups)
            st = self._closed_state(img, shape, deadzone)
            return [ClosedChannel(st, k) for k in range(first, n)]
        return self._analysis_open(img, n, first, shape)

    def _closed_state(self, img: np.ndarray, shape, deadzone: float) -> "ClosedAnalysis":
        import weakref

        key = (id(img), img.shape, shape, float(deadzone))
        with self._lock:
            hit = self._closed.get(key)
            if hit is not None and hit[0]() is img:
                return hit[1]
            st = ClosedAnalysis(self, img, shape, deadzone)
            self._closed = {k: v for k, v in self._closed.items() if v[0]() is not None}
            while len(self._closed) >= 8:
                self._closed.pop(next(iter(self._closed)))
            self._closed[key] = (weakref.ref(img), st)
            return st

    def _analysis_open(self, img: np.ndarray, n: int, first: int = 0,
                       shape: tuple[int, int] | None = None) -> list[np.ndarray]:
        """Softsign latents y (float32, unrounded) of channels first..n-1.

        img: (H, W, 3) uint8 with H, W multiples of the largest patch size, or any
        smaller image with ``shape`` = (H, W): then it is read as if edge-padded to
        (H, W) (as np.pad mode "edge"), without making the padded copy."""
        from squeeze_image import kernels as kk

        h, w, _ = img.shape
        H, W = (h, w) if shape is None else shape
        if not (0 < h <= H and 0 < w <= W):
            raise ValueError("image larger than the analysis shape")
        flat = np.ascontiguousarray(img).reshape(h, w * 3)
        jobs = []
        for gi, g in enumerate(self.groups):
            if g.first >= n:
                break
            a = max(first, g.first) - g.first
            b = min(g.count, n - g.first)
            if a >= b:
                continue
            p = g.patch
            y = np.empty((H // p, W // p, b - a), np.float32)
            jobs.append((gi, g.first + a, a, b, y))
        # independent patch rows, split over the worker threads (nogil kernel)
        tasks = []
        for gi, _k0, a, b, y in jobs:
            hp = y.shape[0]
            parts = min(len(_POOL_SIZE), hp)
            for t in range(parts):
                tasks.append((flat, self.groups[gi].patch, self.enc_a[gi][a:b],
                              self.enc_c[gi][a:b], y, hp * t // parts, hp * (t + 1) // parts))
        run_parallel(kk.project_group_z, tasks)
        out: list[np.ndarray] = []
        for _gi, k0, a, b, y in jobs:
            c = b - a
            # softsign y = g z / (s + |z|): exact IEEE float32, elementwise
            np.divide(y * self.enc_g[k0:k0 + c], self.enc_s[k0:k0 + c] + np.abs(y), out=y)
            for t in range(c):
                out.append(np.ascontiguousarray(y[:, :, t]))
        return out

    def decoder_input(self, qs: list[np.ndarray], n: int, delta: float, H: int,
                      W: int) -> np.ndarray:
        """The (H/8, W/8, dec_in) float32 grid from the quantised channels (elementwise ops)."""
        G = self.grid
        h8, w8 = H // G, W // G
        x = np.zeros((h8, w8, self.dec_in), np.float32)
        col = 0
        d32 = np.float32(delta)
        for g in self.groups:
            p = g.patch
            per = self.slots[g.first]
            for t in range(g.count):
                k = g.first + t
                if k < n:
                    v = self.dequantised(qs[k]) * d32 * self.inv_g[k]
                    if p > G and self.expand:
                        r = p // G  # slot a r + b holds v at the cells (a, b) mod r
                        for a in range(r):
                            for b in range(r):
                                x[a::r, b::r, col + a * r + b] = v
                    elif p > G:
                        r = p // G
                        v = np.repeat(np.repeat(v, r, 0), r, 1)
                        x[:, :, col] = v
                    elif p == G:
                        x[:, :, col] = v
                    else:
                        r = G // p  # space-to-depth, channel order (dy, dx) as pixel_unshuffle
                        v4 = v.reshape(h8, r, w8, r).transpose(0, 2, 1, 3).reshape(h8, w8, r * r)
                        x[:, :, col:col + r * r] = v4
                col += per
        return x

    def synthesis(self, qs: list[np.ndarray], n: int, delta: float, H: int, W: int,
                  out_h: int, out_w: int) -> np.ndarray:
        """Decode quantised channels to an (out_h, out_w, 3) uint8 image (deterministic)."""
        from squeeze_image import kernels as kk

        x0 = self.decoder_input(qs, n, delta, H, W)
        h8, w8, _ = x0.shape
        cond = np.zeros(self.n_ch + 1, np.float32)
        cond[:n] = 1.0
        # steps finer than trained (0.25) condition the network as 0.25
        cond[self.n_ch] = np.float32(det_log(max(delta, self.cond_min)))
        x = np.empty((h8, w8, self.dim), np.float32)
        kk.conv3x3_dense(x0, self.in_w, self.in_b, x)
        hn = np.empty_like(x)
        for b in self.blk:
            gam, bet = kk.film_vectors(b["film_w"], b["film_b"], cond, self.dim)
            kk.dw_ln_film(x, b["dw_w"], b["dw_b"], gam, bet, hn)
            kk.mlp_residual(hn, b["w1"], b["b1"], b["w2"], b["b2"], b["ls"], x)
        out = np.empty((out_h, out_w, 3), np.uint8)
        if self.skip:
            x = np.concatenate([x, x0], axis=2)
        kk.head_to_pixels(x, self.head_w, self.head_b, self.grid, out_h, out_w, out)
        return out

    def dequantised(self, q: np.ndarray) -> np.ndarray:
        """q as the decoder reads it, in units of the step (float32, elementwise):
        q + sign(q) * dq_expand (SPEC.md section 5.2)."""
        v = q.astype(np.float32)
        if self.dq_expand:
            v += np.sign(v) * self.dq_expand
        return v

    def group_slots(self, gi: int, q: np.ndarray, delta: float) -> np.ndarray:
        """Decoder-input slots (h8, w8, count * slots) of group gi from its quantised
        channels q (h, w, count): what decoder_input writes for that group."""
        g = self.groups[gi]
        G, p = self.grid, g.patch
        v = self.dequantised(q) * np.float32(delta) * self.inv_g[g.first:g.first + g.count]
        h, w, c = v.shape
        if p > G:
            r = p // G
            out = np.zeros((h * r, w * r, c, r * r), np.float32)
            for a in range(r):
                for b in range(r):
                    out[a::r, b::r, :, a * r + b] = v
            return out.reshape(h * r, w * r, c * r * r)
        if p == G:
            return v
        r = G // p
        return (v.reshape(h // r, r, w // r, r, c).transpose(0, 2, 4, 1, 3)
                .reshape(h // r, w // r, c * r * r))


class ClosedAnalysis:
    """Encoder state of one image for a closed-loop (format 2) model.

    Group by group, coarse to fine: the group's projections read the residual
    between the image and the decoder's linear path (head bias + skip weights) fed
    with the quantised values of the groups before it, at the same step D.  Floats
    here only choose the latents (BLAS is fine); the decoder never recomputes them.
    The last ``KEEP`` steps' results are kept."""

    KEEP = 3

    def __init__(self, mdl: Model, img: np.ndarray, shape: tuple[int, int] | None,
                 deadzone: float = 0.0):
        h, w, _ = img.shape
        H, W = (h, w) if shape is None else shape
        if not (0 < h <= H and 0 < w <= W):
            raise ValueError("image larger than the analysis shape")
        self.mdl = mdl
        self.deadzone = float(deadzone)
        self.H, self.W = H, W
        x = np.pad(img, ((0, H - h), (0, W - w), (0, 0)), mode="edge") if (H, W) != (h, w) \
            else img
        self.x = x.astype(np.float32) * np.float32(1 / 127.5) - np.float32(1.0)
        self.steps: dict[int, dict] = {}
        self._z0 = None
        self._lock = threading.Lock()  # encodes of one picture from several threads

    def shape(self, k: int) -> tuple[int, int]:
        p = self.mdl.patches[k]
        return self.H // p, self.W // p

    def q(self, k: int, D: int) -> np.ndarray:
        with self._lock:
            return self._q(k, D)

    def _q(self, k: int, D: int) -> np.ndarray:
        from squeeze_image import entropy, kernels as kk

        mdl = self.mdl
        st = self.steps.pop(D, None)
        if st is None:
            G = mdl.grid
            rec = np.empty((self.H // G, self.W // G, mdl.head_b.size), np.float32)
            rec[...] = mdl.head_b  # C order: the kernels' loops vectorise over it
            st = {"q": [], "rec": rec, "group": 0}
        self.steps[D] = st  # most recent last
        while len(self.steps) > self.KEEP:
            self.steps.pop(next(iter(self.steps)))
        while len(st["q"]) <= k:
            gi = st["group"]
            g = mdl.groups[gi]
            p, G = g.patch, mdl.grid
            hp, wp = self.H // p, self.W // p
            z = self._z0 if gi == 0 else None  # the first group reads x - bias: any D
            if z is None:
                r = np.empty_like(self.x)
                kk.closed_residual(self.x, st["rec"], G, r)
                z = np.empty((hp, wp, g.count), np.float32)
                kk.closed_project(r.reshape(self.H, self.W * 3), p, mdl.enc_rows[gi],
                                  mdl.enc_bf[gi], z)
                if gi == 0:
                    self._z0 = z
            s_, g_ = mdl.enc_s[g.first:g.first + g.count], mdl.enc_g[g.first:g.first + g.count]
            y = (z * g_) / (s_ + np.abs(z))
            qg = entropy.quantise(y, D, self.deadzone).reshape(hp, wp, g.count)
            for t in range(g.count):
                st["q"].append(np.ascontiguousarray(qg[:, :, t]))
            if gi + 1 < len(mdl.groups):  # the next group reads the updated residual
                sl = mdl.group_slots(gi, qg, D / 256.0)
                c0 = sum(mdl.slots[:g.first])
                kk.skip_accumulate(np.ascontiguousarray(sl), mdl.skip_w[c0:c0 + sl.shape[2]],
                                   st["rec"])
            st["group"] = gi + 1
        return st["q"][k]


class ClosedChannel:
    """Channel k of a ClosedAnalysis: quantised on demand (``entropy.quantise``)."""

    def __init__(self, state: ClosedAnalysis, k: int):
        self.state, self.k = state, k
        self.shape = state.shape(k)
        self.size = self.shape[0] * self.shape[1]

    def quantised(self, D: int) -> np.ndarray:
        return self.state.q(self.k, D)


_LN2 = 0.6931471805599453

# row blocks per patch group that the analysis deals out (the kernels release the
# GIL); how many threads run them is the caller's budget (threads.py: -T / threads)
_POOL_SIZE = range(max(1, min(2, os.cpu_count() or 1)))


def run_parallel(fn, tasks: list[tuple]) -> list:
    """fn(*task) for every task, over the calling thread and the encoder pool, within
    the thread budget of the call (``threads.limit``; -T1: the calling thread only);
    results in task order.  Each task writes its own output, so the result never
    depends on the scheduling."""
    from squeeze_image import threads

    return threads.run_parallel(fn, tasks)


def det_log(x: float) -> float:
    """Natural log with IEEE double +, -, *, / only (no libm): the same bits everywhere.

    x = m * 2**e with m in [0.5, 1) (frexp is exact); log m = 2 atanh(t),
    t = (m - 1) / (m + 1), |t| <= 1/3, summed to 30 odd terms (error < 1e-16)."""
    import math

    if not x > 0:
        raise ValueError("det_log needs x > 0")
    m, e = math.frexp(x)
    t = (m - 1.0) / (m + 1.0)
    t2 = t * t
    s = 0.0
    p = t
    for k in range(30):
        s += p / (2 * k + 1)
        p *= t2
    return 2.0 * s + e * _LN2


def _arrays(path: str, raw: bytes | None = None) -> dict:
    """The arrays of model file ``path`` (from ``raw``, its bytes, when already read)."""
    import io

    try:
        with np.load(io.BytesIO(raw) if raw is not None else path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise SqueezeError(f"cannot load the image model {path}: {exc}") from None


def _parent_arrays(path: Path, sha256: str) -> dict:
    """The arrays of the model file a derived model builds on (SPEC.md section 5.2):
    the entry with that sha256 in the manifest of the derived file's own folder (the
    package's models, or $SQUEEZE_MODELS), read once and checked against the hash."""
    import hashlib
    import json

    from frappe_cli.models import MANIFEST

    try:
        entries = json.loads((path.parent / MANIFEST).read_text())
        files = [path.parent / e["file"] for e in entries if e.get("sha256") == sha256]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        files = []
    for cand in files:
        try:
            raw = cand.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(raw).hexdigest() == sha256:
            return _arrays(str(cand), raw)
    raise SqueezeError(f"the image model {path.name} builds on model {sha256[:16]}, "
                       "which is not installed")


def model_arrays(path: str | Path, raw: bytes | None = None) -> dict:
    """Every array of the model in file ``path`` (``raw``: its bytes, when already
    read): a derived model's (SPEC.md section 5.2) are its parent's with the file's
    own in their place."""
    data = _arrays(str(path), raw)
    if "parent_sha256" in data:
        parent = str(data.pop("parent_sha256"))
        base = _parent_arrays(Path(path), parent)
        if "parent_sha256" in base:
            raise SqueezeError(f"the image model {path} derives from a derived model")
        data = {**base, **data}
    return data


@lru_cache(maxsize=4)
def _load(path: str) -> Model:
    import hashlib

    try:
        raw = Path(path).read_bytes()  # read once: the arrays and the model id
    except OSError as exc:
        raise SqueezeError(f"cannot load the image model {path}: {exc.strerror}") from None
    return Model(model_arrays(path, raw), hashlib.sha256(raw).hexdigest()[:16])


def load(path: str | None = None, name: str = MODEL_NAME) -> Model:
    """A shipped model by manifest name (verified against models/MANIFEST.json; the
    default is the one new still images are encoded with), or a given file."""
    if path is None:
        from frappe_cli.models import model_path

        path = str(model_path("squeeze_image", name))
    return _load(str(path))


FRAMES_MODEL = "frappe-image-v1"


def load_frames() -> Model:
    """The model frame streams are encoded with: an open-loop (format 1) model,
    whose analysis the frame kernels compute in one pass per frame (a closed-loop
    model's groups depend on each other's quantised values)."""
    from frappe_cli.models import manifest

    names = manifest("squeeze_image")
    for name in (FRAMES_MODEL, MODEL_NAME):
        if name in names:
            mdl = load(name=name)
            if mdl.format == 1:
                return mdl
    raise SqueezeError("no image model for frame streams (format 1) is installed")


def load_ident(ident: str) -> Model | None:
    """The shipped model whose file's sha256 starts with ``ident`` (the model id a
    payload names), or None: every model ever shipped stays, so old streams decode."""
    from frappe_cli.models import manifest

    for name, entry in manifest("squeeze_image").items():
        if name.startswith(MODEL_NAME) and entry.get("sha256", "").startswith(ident):
            return load(name=name)
    return None
