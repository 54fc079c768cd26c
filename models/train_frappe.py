"""Train squeeze's FRAPPE-Image model (torch, CPU; uses a GPU when one is present).

The model (see codecs/squeeze_image/SPEC.md for the inference side):

* Encoder ("projection pursuit"): every latent channel is ONE stride-p linear
  projection of the full RGB input (a Conv2d(3 -> 1, kernel = stride = p)),
  patch sizes coarse to fine (``PATCHES``), companded per channel by a softsign
  y = g * z / (s + |z|) with learnable s > 0 and 0 < g < 127, rounded to int8.
* One shared decoder for every prefix of channels (nested truncation
  training): each training sample gets its own channel count n and
  quantisation step D; the decoder sees the first n channels (the rest are
  zero) and a conditioning vector (channel mask, log D) that modulates the
  LayerNorm of every block (FiLM).  Decoder: inputs on the 1/8 grid (p = 32/16
  nearest-upsampled, p = 8 as is, p = 4 space-to-depth), 3x3 conv -> ConvNeXt
  blocks (dw 3x3, LayerNorm + FiLM, 1x1 to 4d, hardswish, 1x1 to d, layer
  scale, residual) -> 1x1 conv to 192 -> pixel shuffle 8 -> RGB.  Only basic
  arithmetic (no tanh/erf/exp) so numpy/numba inference is bit-reproducible.
* Rate: a causal context Laplace model per channel (mean linear in the
  neighbours N, NW, NE, NN and the three previous channels at the same place,
  scale softplus-linear in their magnitudes and local gradients), the same
  context the integer inference coder uses.  Loss per sample i:
  10 log10 MSE_i + LAMBDA * bpp_i(prefix n_i) (or, with --rate-kappa k, k * log2(bpp_i +
  0.01): a price per bit matched to the RD slope at every rate), mean over the batch.

Stages (each resumable; files outside the repository, default /work/frappe-train):

  train_frappe.py train   [--steps 20000]   # checkpoints every 250 steps
  train_frappe.py export   # weights + fitted entropy tables -> npz + MANIFEST in the
                           # codec's package data, codecs/squeeze_image/models/

Data: CID22 training photographs (``--data``), 178 PNGs 512x512; every 10th file
in sorted order (18 images) is the held-out validation split, never trained on.
Kodak is never read.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

# Architectures.  "v1" is the first shipped model (kept so its export can be
# reproduced); "v2" adds patch-size-2 channels, position-expanded coarse inputs, a
# linear synthesis path (the head also sees the decoder input: PCA-initialised) and
# a deeper decoder.
ARCHS = {
    "v1": dict(patches=[32] * 3 + [16] * 6 + [8] * 4 + [4] * 10, dim=128, blocks=4,
               expand=False, skip=False, d_min=0.25, d_max=6.0, n_min=3, lam=10.0),
    "v2": dict(patches=[32] * 3 + [16] * 6 + [8] * 6 + [4] * 10 + [2] * 4, dim=128, blocks=6,
               expand=True, skip=True, closed=True, d_min=0.125, d_max=6.0, n_min=3, lam=10.0),
}
ARCH = dict(ARCHS["v2"])
PATCHES = ARCH["patches"]
GRID = 8  # decoder works on the 1/8-resolution grid
DIM = ARCH["dim"]
BLOCKS = ARCH["blocks"]
LAMBDA = ARCH["lam"]  # dB per bpp
N_MIN = ARCH["n_min"]
D_MIN = ARCH["d_min"]  # quantisation steps below 1 (finer than int8) give the highest rates
D_MAX = ARCH["d_max"]
CTX_PREV = 3  # previous channels used as context
N_FEAT_MU = 4 + CTX_PREV  # N, NW, NE, NN, prev1..3
N_FEAT_SC = N_FEAT_MU + 3  # |.| of those + |N-NW|, |N-NE|, |N-NN|


def set_arch(name: str, blocks: int | None = None) -> None:
    """Select an architecture preset (module globals, read by build()); ``blocks``: a
    decoder grown past the preset's depth (train --grow-blocks, kept in the checkpoint)."""
    global ARCH, PATCHES, DIM, BLOCKS, LAMBDA, N_MIN, D_MIN, D_MAX
    ARCH = dict(ARCHS[name], name=name)
    if blocks:
        ARCH["blocks"] = int(blocks)
    PATCHES, DIM, BLOCKS = ARCH["patches"], ARCH["dim"], ARCH["blocks"]
    LAMBDA, N_MIN, D_MIN, D_MAX = ARCH["lam"], ARCH["n_min"], ARCH["d_min"], ARCH["d_max"]


DEFAULT_DATA = "/work/shared/corpora/train-images"
#: the codec's package data, where exports go and shipped models are read from
MODELS_DIR = Path(__file__).resolve().parent.parent / "codecs" / "squeeze_image" / "models"
DEFAULT_WORK = "/work/frappe-train"
DEFAULT_CLIC = "/work/shared/corpora/train-images-clic"


def split_files(data: Path) -> tuple[list[Path], list[Path]]:
    files = sorted(p for p in data.iterdir() if p.suffix.lower() == ".png")
    val = files[::10]
    train = [p for i, p in enumerate(files) if i % 10]
    return train, val


def load_images(files: list[Path]) -> np.ndarray:
    from PIL import Image

    arrs = []
    for p in files:
        with Image.open(p) as im:
            arrs.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
    return np.stack(arrs)


# ------------------------------------------------------------------------------------
# model


def build(torch):
    nn = torch.nn
    F = torch.nn.functional

    groups = []  # (patch, first channel, count)
    for i, p in enumerate(PATCHES):
        if groups and groups[-1][0] == p:
            groups[-1][2] += 1
        else:
            groups.append([p, i, 1])
    n_ch = len(PATCHES)
    expand, skip = ARCH["expand"], ARCH["skip"]
    # decoder input slots per channel: p < GRID space-to-depth (GRID/p)^2; p > GRID
    # position-expanded (p/GRID)^2 when ``expand`` (else nearest-upsampled, 1)
    dec_in = sum(c * ((GRID // p) ** 2 if p < GRID else
                      ((p // GRID) ** 2 if expand else 1)) for p, _, c in groups)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleList()
            for p, _, c in groups:
                conv = nn.Conv2d(3, c, kernel_size=p, stride=p)
                nn.init.normal_(conv.weight, std=1.0 / math.sqrt(3 * p * p))
                nn.init.zeros_(conv.bias)
                self.convs.append(conv)
            self.s_raw = nn.Parameter(torch.full((n_ch,), math.log(math.e - 1)))  # s = 1
            self.g_raw = nn.Parameter(torch.full((n_ch,), -1.0))  # g = 127 sigmoid(-1) = 34

        def scales(self):
            return F.softplus(self.s_raw) + 1e-3, 127.0 * torch.sigmoid(self.g_raw)

        def forward(self, x):  # x in [-1, 1]; returns per-group (B, c, h, w) of y
            s, g = self.scales()
            out = []
            for (_p, k0, c), conv in zip(groups, self.convs):
                z = conv(x)
                ss = s[k0:k0 + c].view(1, c, 1, 1)
                gg = g[k0:k0 + c].view(1, c, 1, 1)
                out.append(gg * z / (ss + z.abs()))
            return out

    class CtxModel(nn.Module):
        """Causal Laplace context model (rate proxy, mirrored by the integer coder)."""

        def __init__(self):
            super().__init__()
            self.w_mu = nn.Parameter(torch.zeros(n_ch, N_FEAT_MU))
            self.v_sc = nn.Parameter(torch.full((n_ch, N_FEAT_SC), 0.05))
            self.a_sc = nn.Parameter(torch.full((n_ch,), 1.0))

        @staticmethod
        def features(yc, prev):
            # yc: (B, 1, h, w); prev: list of (B, 1, h, w) previous channels on this grid
            pad = F.pad(yc, (1, 1, 2, 0))  # left, right, top 2, bottom 0
            h, w = yc.shape[-2:]
            n = pad[:, :, 1:1 + h, 1:1 + w]
            nw = pad[:, :, 1:1 + h, 0:w]
            ne = pad[:, :, 1:1 + h, 2:2 + w]
            nn_ = pad[:, :, 0:h, 1:1 + w]
            pr = list(prev) + [torch.zeros_like(yc)] * (CTX_PREV - len(prev))
            mu_f = torch.cat([n, nw, ne, nn_] + pr, 1)
            sc_f = torch.cat([mu_f.abs(), (n - nw).abs(), (n - ne).abs(), (n - nn_).abs()], 1)
            return mu_f, sc_f

        def bits(self, ys):
            """ys: list over channels of (B, 1, h, w) noisy latents -> (B, n_ch) bits."""
            out = []
            for k, yk in enumerate(ys):
                prev = []
                for j in range(max(0, k - CTX_PREV), k):
                    pj = ys[j]
                    r = yk.shape[-1] // pj.shape[-1]
                    if r > 1:
                        pj = F.interpolate(pj, scale_factor=r, mode="nearest")
                    prev.append(pj)
                prev = prev[::-1]  # k-1 first
                mu_f, sc_f = self.features(yk, prev)
                mu = (mu_f * self.w_mu[k].view(1, -1, 1, 1)).sum(1, keepdim=True)
                b = F.softplus(self.a_sc[k] + (sc_f * self.v_sc[k].view(1, -1, 1, 1))
                               .sum(1, keepdim=True)) + 0.05
                d = (yk - mu).abs()
                # P(|v - mu| within bin) for a Laplace(mu, b): symmetric closed form
                upper = 0.5 * torch.exp(-(d - 0.5).clamp(min=0) / b)
                lower = 0.5 * torch.exp(-(d + 0.5) / b)
                inner = 1.0 - 0.5 * torch.exp(-(0.5 - d).clamp(min=0) / b)
                p_in = torch.where(d < 0.5, inner, upper) - lower
                p_in = p_in.clamp(min=1e-9)
                out.append(-torch.log2(p_in).sum((1, 2, 3)))
            return torch.stack(out, 1)

    class Block(nn.Module):
        def __init__(self, d, cond):
            super().__init__()
            self.dw = nn.Conv2d(d, d, 3, padding=1, groups=d)
            self.film = nn.Linear(cond, 2 * d)
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)
            self.pw1 = nn.Conv2d(d, 4 * d, 1)
            self.pw2 = nn.Conv2d(4 * d, d, 1)
            self.ls = nn.Parameter(torch.full((d,), 0.1))
            self.d = d

        def forward(self, x, c):
            h = self.dw(x)
            mu = h.mean(1, keepdim=True)
            var = ((h - mu) ** 2).mean(1, keepdim=True)
            h = (h - mu) / torch.sqrt(var + 1e-6)
            gb = self.film(c)
            gam, bet = gb[:, :self.d, None, None], gb[:, self.d:, None, None]
            h = h * (1 + gam) + bet
            h = F.hardswish(self.pw1(h))
            h = self.pw2(h)
            return x + self.ls.view(1, -1, 1, 1) * h

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            cond = n_ch + 1
            self.inp = nn.Conv2d(dec_in, DIM, 3, padding=1)
            self.blocks = nn.ModuleList([Block(DIM, cond) for _ in range(BLOCKS)])
            # with ``skip`` the head also reads the decoder input (a linear synthesis
            # path, initialised to the PCA synthesis by pca_init)
            self.head = nn.Conv2d(DIM + (dec_in if skip else 0), 3 * GRID * GRID, 1)

        def forward(self, lat, c):
            h = self.body(lat, c)
            if skip:
                h = torch.cat([h, lat], 1)
            return F.pixel_shuffle(self.head(h), GRID)

        def body(self, lat, c):
            h = self.inp(lat)
            for b in self.blocks:
                h = b(h, c)
            return h

    def to_grid(groups_y):
        return torch.cat([group_slots(p, y) for (p, _, _c), y in zip(groups, groups_y)], 1)

    def group_slots(p, y):
        """One group's decoder-input slots on the 1/GRID grid."""
        parts = []
        if True:
            if p > GRID and expand:
                r = p // GRID
                B, c, h, w = y.shape
                up = F.interpolate(y, scale_factor=r, mode="nearest")  # (B, c, hr, wr)
                pos = torch.eye(r * r, dtype=y.dtype, device=y.device).view(r * r, r, r)
                pos = pos.repeat(1, h, w)  # one-hot of the cell's place in its patch
                parts.append((up.unsqueeze(2) * pos.view(1, 1, r * r, h * r, w * r))
                             .reshape(B, c * r * r, h * r, w * r))
            elif p > GRID:
                parts.append(F.interpolate(y, scale_factor=p // GRID, mode="nearest"))
            elif p == GRID:
                parts.append(y)
            else:
                parts.append(F.pixel_unshuffle(y, GRID // p))
        return parts[0]

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = Encoder()
            self.ctx = CtxModel()
            self.dec = Decoder()

        def forward(self, x, n, delta, noise_rate=True):
            """x (B,3,H,W) in [-1,1]; n (B,) channel counts; delta (B,) steps."""
            if ARCH.get("closed"):
                return self.forward_closed(x, n, delta, noise_rate)
            B = x.shape[0]
            ys = self.enc(x)
            s, g = self.enc.scales()
            # rate: noisy latents at step 1, per channel
            chans = [y[:, i:i + 1] for y in ys for i in range(y.shape[1])]
            if noise_rate:
                noisy = [c + torch.rand_like(c) - 0.5 for c in chans]
            else:
                noisy = [torch.round(c) for c in chans]
            bits = self.ctx.bits(noisy)  # (B, n_ch)
            kidx = torch.arange(n_ch, device=x.device).view(1, -1)
            mask = (kidx < n.view(-1, 1)).float()  # (B, n_ch)
            bpp = (bits * mask).sum(1) / (x.shape[-1] * x.shape[-2])
            # decoder input: STE-quantised with step delta, normalised by g, masked
            dq = []
            for (_p, k0, c), y in zip(groups, ys):
                dl = delta.view(-1, 1, 1, 1)
                q = torch.round(y / dl) * dl
                yq = y + (q - y).detach()
                m = mask[:, k0:k0 + c].view(B, c, 1, 1)
                dq.append(yq / g[k0:k0 + c].view(1, c, 1, 1) * m)
            cond = torch.cat([mask, torch.log(delta).view(-1, 1)], 1)
            xh = self.dec(to_grid(dq), cond)
            return xh, bpp, bits

        def forward_closed(self, x, n, delta, noise_rate=True):
            """Closed-loop analysis (v2): each group projects what the decoder's linear
            path has not yet reconstructed from the quantised coarser groups; the rate is
            that of the quantised symbols q = y / delta (noisy in training)."""
            B, _, H, W = x.shape
            s, g = self.enc.scales()
            kidx = torch.arange(n_ch, device=x.device).view(1, -1)
            mask = (kidx < n.view(-1, 1)).float()
            dl = delta.view(-1, 1, 1, 1)
            head_w = self.dec.head.weight
            rec = F.pixel_shuffle(self.dec.head.bias.view(1, -1, 1, 1)
                                  .expand(B, -1, H // GRID, W // GRID), GRID)
            col = DIM
            slots, sym = [], []
            for ((p, k0, c), conv) in zip(groups, self.enc.convs):
                z = conv(x - rec)
                ss = s[k0:k0 + c].view(1, c, 1, 1)
                gg = g[k0:k0 + c].view(1, c, 1, 1)
                y = gg * z / (ss + z.abs())
                u = y / dl
                if noise_rate:
                    sym.append(u + torch.rand_like(u) - 0.5)
                else:
                    sym.append(torch.round(u))
                uq = u + (torch.round(u) - u).detach()
                m = mask[:, k0:k0 + c].view(B, c, 1, 1)
                sl = group_slots(p, uq * dl / gg * m)
                ns = sl.shape[1]
                rec = rec + F.pixel_shuffle(F.conv2d(sl, head_w[:, col:col + ns]), GRID)
                col += ns
                slots.append(sl)
            chans = [t[:, i:i + 1] for t in sym for i in range(t.shape[1])]
            bits = self.ctx.bits(chans)
            bpp = (bits * mask).sum(1) / (H * W)
            cond = torch.cat([mask, torch.log(delta).view(-1, 1)], 1)
            xh = self.dec(torch.cat(slots, 1), cond)
            return xh, bpp, bits

    return Model, groups, dec_in


# ------------------------------------------------------------------------------------
# training


def sample_nd(rng: np.random.Generator, b: int) -> tuple[np.ndarray, np.ndarray]:
    n_ch = len(PATCHES)
    choices = np.arange(N_MIN, n_ch + 1)
    w = np.ones(len(choices))
    w[(choices >= 6) & (choices <= 15)] = 2.0
    if ARCH.get("name", "v2") != "v1":
        w[:] = 1.0
    n = rng.choice(choices, size=b, p=w / w.sum())
    d = np.exp(rng.uniform(math.log(D_MIN), math.log(D_MAX), size=b))
    d[rng.random(b) < 0.3] = 1.0
    return n, d


class PathSampler:
    """(n, D) drawn around a shipped model's rate path instead of over the whole grid.

    The uniform sampler spends most samples on pairs no rate ever uses (3 channels at
    step 1/8, 29 channels at step 6); this one draws a rate log-uniformly in
    [``lo``, ``hi``] bpp, takes the path's (n, D) there, moves n by up to ``dn`` and D
    by a factor up to exp(+-``dd``), and keeps a share ``uniform`` of the draws from
    the uniform sampler so the decoder stays sound beside the path (the export refits
    the path from a grid around it)."""

    def __init__(self, npz: str, lo=0.02, hi=1.2, dn=2, dd=0.35, uniform=0.25):
        import hashlib

        raw = Path(npz).read_bytes()
        z = model_file_arrays(Path(npz))  # a derived model's path is its parent's
        self.bpp = z["path_bpp"].astype(np.float64)
        self.n = z["path_n"].astype(np.int64)
        self.d = z["path_d"].astype(np.float64) / 256.0
        self.desc = {"path_from": Path(npz).name, "sha256": hashlib.sha256(raw).hexdigest(),
                     "lo": lo, "hi": hi, "dn": dn, "dd": dd, "uniform": uniform}
        self.lo, self.hi, self.dn, self.dd, self.uniform = lo, hi, dn, dd, uniform

    def __call__(self, rng: np.random.Generator, b: int) -> tuple[np.ndarray, np.ndarray]:
        n, d = sample_nd(rng, b)
        rate = np.exp(rng.uniform(math.log(self.lo), math.log(self.hi), size=b))
        i = np.clip(np.searchsorted(self.bpp, rate), 0, self.bpp.size - 1)
        pn = np.clip(self.n[i] + rng.integers(-self.dn, self.dn + 1, size=b), N_MIN,
                     len(PATCHES))
        pd = np.clip(self.d[i] * np.exp(rng.uniform(-self.dd, self.dd, size=b)), D_MIN, D_MAX)
        on = rng.random(b) >= self.uniform
        return np.where(on, pn, n), np.where(on, pd, d)


def get_batch(rng, imgs, b, crop):
    N = imgs.shape[0]
    out = np.empty((b, crop, crop, 3), np.uint8)
    for i in range(b):
        out[i] = _random_crop(rng, imgs[rng.integers(N)], crop)
    return out


def _random_crop(rng, im, crop):
    """A crop x crop window at a random place, randomly mirrored (the draws, in
    order: row, column, left-right flip, up-down flip)."""
    H, W, _ = im.shape
    y = rng.integers(0, H - crop + 1)
    x = rng.integers(0, W - crop + 1)
    c = im[y:y + crop, x:x + crop]
    if rng.random() < 0.5:
        c = c[:, ::-1]
    if rng.random() < 0.5:
        c = c[::-1]
    return c


def load_pyramid(files: list[Path], scales=(1, 2, 4)) -> list[np.ndarray]:
    """High-resolution photographs at full size and area-downscaled by 2 and 4
    (the smaller versions have the detail density of Kodak-sized photographs)."""
    from PIL import Image

    out = []
    for p in files:
        with Image.open(p) as im:
            im = im.convert("RGB")
            for sc in scales:
                w, h = im.size[0] // sc, im.size[1] // sc
                out.append(np.asarray(im if sc == 1 else im.resize((w, h), Image.BOX),
                                      dtype=np.uint8))
    return out


def get_batch_list(rng, sources, b, crop):
    """sources: list of (probability, list of HxWx3 arrays); random crops and flips."""
    probs = np.array([s[0] for s in sources], np.float64)
    out = np.empty((b, crop, crop, 3), np.uint8)
    for i in range(b):
        imgs = sources[rng.choice(len(sources), p=probs / probs.sum())][1]
        out[i] = _random_crop(rng, imgs[rng.integers(len(imgs))], crop)
    return out


def pca_init(torch, model, groups, dec_in, crops, gain=10.0, log=print):
    """Initialise the encoder from a PCA of image patches and the decoder's linear
    path from a greedy least-squares synthesis (the body starts at zero output).

    Scale by scale, coarse to fine: the projection filters of a group are the top
    eigenvectors of the second-moment matrix of the patches of the residual left by
    the coarser channels; each channel's softsign is set nearly linear over its range
    (s = 4 std, g = gain * s, at most 120).  The skip weights are fitted one channel
    at a time, each on what the channels before it left (so every prefix of
    channels has a sensible linear reconstruction, as nested truncation needs)."""
    F = torch.nn.functional
    x = crops.astype(np.float64) / 127.5 - 1.0  # (N, S, S, 3)
    N, S, _, _ = x.shape
    G = GRID
    target = torch.from_numpy(x).permute(0, 3, 1, 2)
    target = F.pixel_unshuffle(target, G).permute(0, 2, 3, 1).reshape(-1, 3 * G * G).numpy()
    resid = target.copy()
    enc = model.enc
    head = model.dec.head
    W_skip = np.zeros((dec_in, 3 * G * G))
    bias = resid.mean(0)
    resid -= bias
    col = 0
    n_ch = len(PATCHES)
    s_init = np.ones(n_ch)
    g_init = np.ones(n_ch)
    with torch.no_grad():
        for gi, (p, k0, c) in enumerate(groups):
            # residual image from the current linear reconstruction
            r_img = torch.from_numpy(resid.reshape(N, S // G, S // G, 3 * G * G))
            r_img = r_img.permute(0, 3, 1, 2)
            r_img = F.pixel_shuffle(r_img, G).permute(0, 2, 3, 1).numpy()  # (N, S, S, 3)
            pt = r_img.reshape(N, S // p, p, S // p, p, 3).transpose(0, 1, 3, 5, 2, 4)
            pt = pt.reshape(-1, 3 * p * p)
            C = pt.T @ pt / len(pt)
            ev, E = np.linalg.eigh(C)
            E = E[:, np.argsort(ev)[::-1][:c]].T  # (c, 3 p p), in conv weight order
            conv = enc.convs[gi]
            conv.weight.copy_(torch.from_numpy(E.reshape(c, 3, p, p)).float())
            conv.bias.zero_()
            # closed loop: the group projects the residual image
            z = F.conv2d(torch.from_numpy(r_img).permute(0, 3, 1, 2).float(), conv.weight,
                         stride=p).double().numpy()  # (N, c, S/p, S/p)
            sd = z.std(axis=(0, 2, 3)) + 1e-4
            s_k = 4.0 * sd
            g_k = np.minimum(120.0, gain * s_k)
            s_init[k0:k0 + c] = s_k
            g_init[k0:k0 + c] = g_k
            y = g_k.reshape(1, c, 1, 1) * z / (s_k.reshape(1, c, 1, 1) + np.abs(z))
            x0 = y / g_k.reshape(1, c, 1, 1)  # decoder input (unquantised)
            # the group's decoder-input slots, as to_grid lays them out
            if p < G:
                r = G // p
                slots = F.pixel_unshuffle(torch.from_numpy(x0), r).numpy()  # (N, c r r, S/G, S/G)
                per = r * r
            elif p > G and ARCH["expand"]:
                r = p // G
                up = np.repeat(np.repeat(x0, r, 2), r, 3)  # (N, c, S/G, S/G)
                pos = np.zeros((r * r, S // G, S // G))
                for a in range(r):
                    for b_ in range(r):
                        pos[a * r + b_, a::r, b_::r] = 1.0
                slots = (up[:, :, None] * pos[None, None]).reshape(N, c * r * r, S // G, S // G)
                per = r * r
            elif p > G:
                r = p // G
                slots = np.repeat(np.repeat(x0, r, 2), r, 3)
                per = 1
            else:
                slots = x0
                per = 1
            slots = slots.transpose(0, 2, 3, 1).reshape(-1, c * per)
            for t in range(c):
                X = slots[:, t * per:(t + 1) * per]
                A = X.T @ X + 1e-6 * len(X) * np.eye(per)
                Wt = np.linalg.solve(A, X.T @ resid)
                resid -= X @ Wt
                W_skip[col + t * per: col + (t + 1) * per] = Wt
            col += c * per
            mse = (resid ** 2).mean() * 127.5 ** 2
            log(f"pca_init group p={p} c={c}: linear PSNR with channels 0..{k0 + c - 1}: "
                f"{10 * math.log10(255 ** 2 / mse):.2f} dB")
        enc.s_raw.copy_(torch.from_numpy(np.log(np.expm1(np.maximum(s_init - 1e-3, 1e-6)))).float())
        gg = np.clip(g_init / 127.0, 1e-6, 1 - 1e-6)
        enc.g_raw.copy_(torch.from_numpy(np.log(gg / (1 - gg))).float())
        w = torch.zeros_like(head.weight)
        w[:, DIM:, 0, 0] = torch.from_numpy(W_skip.T).float()
        head.weight.copy_(w)
        head.bias.copy_(torch.from_numpy(bias).float())


def to_tensor(torch, u8, dev):
    t = torch.from_numpy(np.ascontiguousarray(u8)).to(dev).permute(0, 3, 1, 2)
    return t.float() / 127.5 - 1.0


def lr_at(step, total, peak, warm=500):
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return 1e-5 + (peak - 1e-5) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang, Simoncelli, Bovik (2003)


def ms_ssim_torch(torch, a, b):
    """MS-SSIM per image of two (B, 3, H, W) float tensors in [0, 255], differentiable:
    the bench's and the encoder's definition (squeeze_image/metrics.py ``ms_ssim``:
    11-tap Gaussian, sigma 1.5, 'valid' windows, 2x2 average pooling, negative
    contrast terms clipped to 0, the product over scales averaged over the colour
    channels)."""
    F = torch.nn.functional
    c = torch.arange(11, dtype=a.dtype, device=a.device) - 5
    g = torch.exp(-(c ** 2) / (2 * 1.5 ** 2))
    g = g / g.sum()
    C = a.shape[1]
    gh = g.view(1, 1, 11, 1).repeat(5 * C, 1, 1, 1)
    gw = g.view(1, 1, 1, 11).repeat(5 * C, 1, 1, 1)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for lev in range(len(MS_WEIGHTS)):
        st = torch.cat([a, b, a * a, b * b, a * b], 1)
        f = F.conv2d(F.conv2d(st, gh, groups=5 * C), gw, groups=5 * C)
        mu1, mu2, e11, e22, e12 = f.split(C, 1)
        s11, s22, s12 = e11 - mu1 * mu1, e22 - mu2 * mu2, e12 - mu1 * mu2
        cs = (2 * s12 + c2) / (s11 + s22 + c2)
        if lev == len(MS_WEIGHTS) - 1:
            lum = (2 * mu1 * mu2 + c1) / (mu1 * mu1 + mu2 * mu2 + c1)
            vals.append(F.relu((lum * cs).mean((2, 3))))
        else:
            vals.append(F.relu(cs.mean((2, 3))))
            pad = (a.shape[2] % 2, a.shape[3] % 2)
            a = F.avg_pool2d(a, 2, padding=pad)
            b = F.avg_pool2d(b, 2, padding=pad)
    out = 1.0
    for v, w in zip(vals, MS_WEIGHTS):
        out = out * (v + 1e-12) ** w  # (B, C); the epsilon keeps the gradient finite at 0
    return out.mean(1)


def distortion_db(torch, xh, xb, msssim_weight: float):
    """The training loss's distortion per sample, in dB (lower is better):
    10 log10 MSE, or with weight w > 0 its mix with MS-SSIM in dB,
    (10 log10 MSE + w * 10 log10(1 - MS-SSIM)) / (1 + w).  Both fall ~1.3-1.9 dB per
    doubling of the rate (Kodak, model v5), so the mix keeps LAMBDA's rate balance."""
    mse = ((xh - xb) ** 2).mean((1, 2, 3)) * (127.5 ** 2)
    dist = 10 * torch.log10(mse + 1e-3)
    if msssim_weight:
        ms = ms_ssim_torch(torch, (xh + 1) * 127.5, (xb + 1) * 127.5)
        dist = (dist + msssim_weight * 10 * torch.log10(1 - ms + 1e-6)) / (1 + msssim_weight)
    return dist


RATE_FLOOR = 0.01  # bpp: the log-rate term's floor (a flat crop costs ~0.005 bpp)


def rate_term(torch, bpp, loss_desc: dict):
    """The loss's rate term per sample, in dB.  Linear, LAMBDA * bpp: a fixed price
    per bit, too low below ~0.2 bpp and too high above, where the RD curve's slope in
    dB per bpp is ~k / (bpp ln 2) for k ~1.3-1.9 dB per doubling.  With --rate-kappa
    k: k * log2(bpp + RATE_FLOOR), a price matched to that slope at every rate (10 dB
    per bpp at 0.2 bpp for k = 1.5, 27 at 0.08, 2.2 at 1 bpp)."""
    kappa = loss_desc.get("rate_kappa", 0.0)
    if kappa:
        return kappa * torch.log2(bpp + RATE_FLOOR)
    return LAMBDA * bpp


def evaluate(torch, model, val, dev,
             settings=((6, 1.0), (9, 1.0), (13, 1.0), (13, 2.0), (23, 1.0))):
    model.eval()
    res = {}
    with torch.no_grad():
        x = to_tensor(torch, val, dev)
        for n, d in settings:
            mses, bpps, mss = [], [], []
            for i in range(0, len(val), 6):
                xb = x[i:i + 6]
                b = xb.shape[0]
                xh, bpp, _ = model(xb, torch.full((b,), n, device=dev),
                                   torch.full((b,), float(d), device=dev), noise_rate=False)
                xh = ((xh.clamp(-1, 1) + 1) * 127.5).round()
                ref = (xb + 1) * 127.5
                mses.append(((xh - ref) ** 2).mean((1, 2, 3)).cpu().numpy())
                bpps.append(bpp.cpu().numpy())
                if min(xb.shape[2:]) > 160:
                    mss.append(ms_ssim_torch(torch, xh, ref).cpu().numpy())
            mse = np.concatenate(mses)
            res[f"n{n}d{d:g}"] = {"psnr": float(np.mean(10 * np.log10(255 ** 2 / mse))),
                                  "bpp_proxy_d1": float(np.mean(np.concatenate(bpps)))}
            if mss:
                res[f"n{n}d{d:g}"]["msssim"] = float(np.mean(np.concatenate(mss)))
    model.train()
    return res


def clic_split(data: Path) -> tuple[list[Path], list[Path]]:
    files = sorted(p for p in data.iterdir() if p.suffix.lower() == ".png")
    return [p for i, p in enumerate(files) if i % 10], files[::10]


def center_crops(imgs: list[np.ndarray], size: int) -> np.ndarray:
    out = []
    for im in imgs:
        H, W, _ = im.shape
        y, x = (H - size) // 2, (W - size) // 2
        out.append(im[y:y + size, x:x + size])
    return np.stack(out)


def _rng_state(rng):
    return rng.bit_generator.state


def _is_new_block(name: str, old_blocks: int) -> bool:
    return name.startswith("dec.blocks.") and int(name.split(".")[2]) >= old_blocks


def _grow(torch, model, state: dict, old_blocks: int, lr_mult: float = 1.0) -> None:
    """Rewrite a forked checkpoint's weights, EMA and optimiser state for ``model``, a
    decoder deeper by the blocks after the first ``old_blocks``.  A new block's last
    1x1 convolution starts at zero, so the grown network computes exactly what the fork
    did (x + ls * 0 = x) while that convolution still has a gradient from the first
    step (ls * dL/dx times the block's hidden activations; a zero layer scale instead
    was measured to stay stuck: random features give its gradient no steady sign, 3e-4
    after 1100 steps); its other weights keep build()'s initialisation, and the
    optimiser has no moments for them yet.  The new blocks' parameters form a second
    optimiser group whose learning rate is the schedule's times ``lr_mult``."""
    def new(name: str) -> bool:
        return _is_new_block(name, old_blocks)

    init = model.state_dict()
    for k, v in init.items():
        if new(k) and ".pw2." in k:
            v.zero_()
    for key in ("model", "ema"):
        if key in state:
            old = state[key]
            assert set(old) == {k for k in init if not new(k)}, "not the fork's network"
            state[key] = {k: (init[k].clone() if new(k) else old[k]) for k in init}
    names = [k for k, _ in model.named_parameters()]
    n_old = sum(not new(k) for k in names)
    opt = state["opt"]
    (group,) = opt["param_groups"]
    assert len(group["params"]) == n_old, "not the fork's optimiser"
    # group 0: the fork's parameters in the fork's order (its moments keep their index)
    state["opt"] = {"state": dict(opt["state"]),
                    "param_groups": [dict(group, params=list(range(n_old))),
                                     dict(group, params=list(range(n_old, len(names))),
                                          lr_mult=float(lr_mult))]}
    state["grown"] = {"from_blocks": old_blocks, "lr_mult": float(lr_mult)}


# the model file's names of the network's weights (export) and back (train --init-model)
_BLOCK_PARAMS = ("dw.weight", "dw.bias", "film.weight", "film.bias", "pw1.weight", "pw1.bias",
                 "pw2.weight", "pw2.bias", "ls")


def _weight_names(n_groups: int, blocks: int) -> dict:
    """state-dict name -> model-file key, for every weight but the encoder's s and g."""
    names = {}
    for gi in range(n_groups):
        names[f"enc.convs.{gi}.weight"] = f"enc{gi}_w"
        names[f"enc.convs.{gi}.bias"] = f"enc{gi}_b"
    names.update({"dec.inp.weight": "dec_in_w", "dec.inp.bias": "dec_in_b"})
    for bi in range(blocks):
        for nm in _BLOCK_PARAMS:
            names[f"dec.blocks.{bi}.{nm}"] = f"b{bi}_{nm.replace('.', '_')}"
    names.update({"dec.head.weight": "head_w", "dec.head.bias": "head_b",
                  "ctx.w_mu": "ctx_w_mu", "ctx.v_sc": "ctx_v_sc", "ctx.a_sc": "ctx_a_sc"})
    return names


def weights_to_arrays(model, groups) -> dict:
    """The network part of a model file (float32), as the codec loads it."""
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    s, g = model.enc.scales()
    arrays = {"patches": np.array(PATCHES, np.int32), "grid": np.int32(GRID),
              "dim": np.int32(DIM), "blocks": np.int32(BLOCKS),
              "enc_s": s.detach().numpy().astype(np.float32),
              "enc_g": g.detach().numpy().astype(np.float32)}
    if ARCH["name"] != "v1":
        # model format 2: position-expanded coarse inputs, head reads [body, input]
        arrays["format"] = np.int32(2)
        arrays["expand"] = np.int32(ARCH["expand"])
        arrays["skip"] = np.int32(ARCH["skip"])
        arrays["cond_min"] = np.float32(D_MIN)  # finest step the decoder was trained at
    for name, key in _weight_names(len(groups), BLOCKS).items():
        arrays[key] = sd[name]
    return arrays


def model_file_arch(arrays) -> tuple[str, int]:
    """(architecture preset, decoder blocks) of a model file's network."""
    arch = "v2" if int(arrays.get("format", 1)) == 2 else "v1"
    if [int(p) for p in arrays["patches"]] != ARCHS[arch]["patches"] or \
            int(arrays["dim"]) != ARCHS[arch]["dim"]:
        raise SystemExit("--init-model: not a network this script builds")
    return arch, int(arrays["blocks"])


def arrays_to_state(torch, arrays, groups, blocks: int) -> dict:
    """The inverse of weights_to_arrays: a state dict of the training network (the
    encoder's s and g back through their softplus and sigmoid)."""
    sd = {name: torch.from_numpy(np.array(arrays[key], np.float32))
          for name, key in _weight_names(len(groups), blocks).items()}
    s = torch.from_numpy(np.array(arrays["enc_s"], np.float64)) - 1e-3
    g = torch.from_numpy(np.array(arrays["enc_g"], np.float64)) / 127.0
    sd["enc.s_raw"] = (s + torch.log(-torch.expm1(-s))).float()  # softplus^-1
    sd["enc.g_raw"] = torch.log(g / (1 - g)).float()  # logit
    return sd


def resolve_model(spec: str) -> Path:
    """A model file: a path, or the manifest name of a shipped model."""
    if Path(spec).is_file():
        return Path(spec)
    man = json.loads((MODELS_DIR / "MANIFEST.json").read_text())
    for e in man:
        if e["name"] == spec:
            return MODELS_DIR / e["file"]
    raise SystemExit(f"--init-model: no file or shipped model named {spec}")


def _manifest_entry(path: Path) -> dict:
    """The MANIFEST.json entry of a model file beside it ({} when it has none)."""
    man = path.parent / "MANIFEST.json"
    if man.is_file():
        for e in json.loads(man.read_text()):
            if e.get("file") == path.name:
                return e
    return {}


def _tool_paths() -> None:
    """Put this folder (manifest.py), the repository (benchmarks) and the codecs'
    source root (squeeze_image) on sys.path, once."""
    here = Path(__file__).resolve().parent
    for p in (str(here.parent / "codecs"), str(here.parent), str(here)):
        if p not in sys.path:
            sys.path.insert(0, p)  # ahead of an installed copy: this checkout's code


def model_file_arrays(path: Path) -> dict:
    """Every array of a model file (a derived model's include its parent's)."""
    _tool_paths()
    from squeeze_image.model import model_arrays

    return model_arrays(path)


def _init_from_model(torch, model, path: Path, old_blocks: int) -> dict:
    """Load a shipped model file's weights into ``model`` (whose blocks after the first
    ``old_blocks`` are new: identity at first, their last 1x1 convolution zero)."""
    arrays = model_file_arrays(path)
    sd = model.state_dict()
    new = {k for k in sd if _is_new_block(k, old_blocks)}
    loaded = arrays_to_state(torch, arrays, model.enc.convs, old_blocks)
    assert set(loaded) == set(sd) - new, "not this network"
    for k in new:
        loaded[k] = sd[k].clone().zero_() if ".pw2." in k else sd[k].clone()
    model.load_state_dict(loaded)
    return arrays


def cmd_train(args):
    """Resumable training: the checkpoint holds the weights, their EMA, the optimiser,
    the numpy and torch random states, the step and the CPU seconds spent, so that a
    run stopped and resumed at a checkpoint is bit-for-bit the run never stopped (on
    the same machine type, with the same --threads)."""
    import torch

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ck = work / "ckpt.pt"
    if args.init_model and args.fork_from:
        raise SystemExit("give --fork-from or --init-model, not both")
    state = torch.load(ck, map_location="cpu", weights_only=False) if ck.exists() else None
    if state is None and args.fork_from:
        # a fork: another run's checkpoint, continued here with its own loss
        state = torch.load(args.fork_from, map_location="cpu", weights_only=False)
        state["forked_from"] = {"checkpoint": str(args.fork_from), "step": state["step"],
                                "loss": state.pop("loss", None)}
    elif state is not None and args.fork_from:
        raise SystemExit(f"{ck} exists: --fork-from starts a new run in an empty --work")
    init_model = resolve_model(args.init_model) if args.init_model and state is None else None
    arch = state["arch"] if state is not None and "arch" in state else args.arch
    if state is not None and "arch" not in state:
        arch = "v1"
    grow = args.grow_blocks
    if grow and not ((args.fork_from or init_model) and not ck.exists()):
        raise SystemExit("--grow-blocks starts a fork: give --fork-from (or --init-model) "
                         "and an empty --work")
    old_blocks = (state or {}).get("blocks") or ARCHS[arch]["blocks"]
    if init_model is not None:
        arch, old_blocks = model_file_arch(model_file_arrays(init_model))
    set_arch(arch, old_blocks + grow)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_files, val_files = split_files(Path(args.data))
    if arch == "v1":
        imgs = load_images(train_files)
        val = load_images(val_files)
        sources = None
    else:
        cid = list(load_images(train_files))
        val = load_images(val_files)
        sources = [(0.4, cid)]
        if args.clic and Path(args.clic).is_dir():
            ctrain, _cval = clic_split(Path(args.clic))
            sources.append((0.6, load_pyramid(ctrain)))
    Model, groups, dec_in = build(torch)
    model = Model().to(dev)
    total = args.steps
    step = 0
    cpu_before = 0.0
    rng = np.random.default_rng(args.seed)
    init_desc = None
    if init_model is not None:
        # a new run from a shipped model's (EMA) weights: fresh optimiser, step 0, the
        # CPU-hours of the model's own training carried over (the lineage's total)
        _init_from_model(torch, model, init_model, old_blocks)
        entry = _manifest_entry(init_model)
        init_desc = {"model": init_model.name, "steps": entry.get("steps"),
                     "blocks": old_blocks, "cpu_hours": entry.get("training_cpu_hours")}
        cpu_before = 3600.0 * float(entry.get("training_cpu_hours") or 0.0)
        torch.manual_seed(args.seed + 1)  # the noise: the same whatever the depth
        print(f"initialised from {init_model.name} ({old_blocks} blocks"
              + (f", {grow} grown" if grow else "") + ")", flush=True)
    elif state is None and arch != "v1":
        crops = get_batch_list(np.random.default_rng(args.seed + 1000), sources, 96, 192)
        pca_init(torch, model, groups, dec_in, crops)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if grow and init_model is None:
        _grow(torch, model, state, old_blocks, args.grow_lr)
        state["forked_from"]["blocks"] = old_blocks
        print(f"grown: {grow} identity block(s) after the {old_blocks} of the fork "
              "(last 1x1 convolution zero)", flush=True)
    grown = (state or {}).get("grown")
    if init_model is not None and grow:
        grown = {"from_blocks": old_blocks, "lr_mult": float(args.grow_lr)}
    if grown:  # a grown run: its new blocks are a second group with their own lr factor
        named = list(model.named_parameters())
        opt = torch.optim.AdamW(
            [{"params": [p for k, p in named if not _is_new_block(k, grown["from_blocks"])]},
             {"params": [p for k, p in named if _is_new_block(k, grown["from_blocks"])],
              "lr_mult": grown["lr_mult"]}], lr=args.lr, weight_decay=1e-4)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    if state is not None:
        init_desc = state.get("init_from")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        total = state.get("total", total)
        cpu_before = state.get("cpu_s", 0.0)
        # a run keeps its batch, crop and peak learning rate (the command line's are
        # for a new run)
        args.batch = state.get("batch") or args.batch
        args.crop = state.get("crop") or args.crop
        args.lr = state.get("lr") or args.lr
        if "ema" in state:
            ema = state["ema"]
        if "np_rng" in state:
            rng.bit_generator.state = state["np_rng"]
            torch.set_rng_state(state["torch_rng"])
        else:  # checkpoints of the first run (v1) kept no random state
            rng = np.random.default_rng([args.seed, step])
        print(f"resumed {arch} at step {step}/{total} ({cpu_before / 3600:.2f} CPU-h before)",
              flush=True)
    if args.steps != total and args.extend:
        total = args.steps
    # the (n, D) sampler: a run keeps the one it was started (or first resumed) with
    sampler_desc = state.get("sampler") if state is not None else None
    sampler = sample_nd
    if args.nd_range and not (args.nd_path or sampler_desc is not None):
        raise SystemExit("--nd-range is the rate range of a path sampler: give --nd-path")
    if args.nd_path or sampler_desc is not None:
        npz = Path(args.nd_path) if args.nd_path else MODELS_DIR / sampler_desc["path_from"]
        knobs = ({k: sampler_desc[k] for k in ("lo", "hi", "dn", "dd", "uniform")}
                 if sampler_desc is not None else {})
        if args.nd_range:
            # a new run, or a fork that moves its draws to another range of rates
            if ck.exists():
                raise SystemExit("--nd-range starts a run or a fork (an empty --work); "
                                 f"{ck} keeps the range it was started with")
            knobs.update(lo=float(args.nd_range[0]), hi=float(args.nd_range[1]))
            sampler_desc = None
        sampler = PathSampler(str(npz), **knobs)
        if sampler_desc is not None and sampler.desc != sampler_desc:
            raise SystemExit(f"this run samples with {sampler_desc}, not {sampler.desc}")
        sampler_desc = sampler.desc
        print(f"sampling (n, D) around the rate path of {npz.name}", flush=True)
    # the distortion term: likewise kept from the run's start (a run saved before it was
    # recorded, or a --fork-from, takes --msssim-weight from that step on)
    loss_desc = state.get("loss") if state is not None else None
    if loss_desc is None:
        loss_desc = {"msssim_weight": float(args.msssim_weight or 0.0), "from_step": step}
        if args.rate_kappa:
            loss_desc["rate_kappa"] = float(args.rate_kappa)
    elif args.msssim_weight is not None and args.msssim_weight != loss_desc["msssim_weight"]:
        raise SystemExit(f"this run's loss is {loss_desc}, not --msssim-weight "
                         f"{args.msssim_weight}")
    elif (args.rate_kappa is not None
          and args.rate_kappa != loss_desc.get("rate_kappa", 0.0)):
        raise SystemExit(f"this run's loss is {loss_desc}, not --rate-kappa "
                         f"{args.rate_kappa}")
    if loss_desc["msssim_weight"]:
        print(f"distortion: PSNR and MS-SSIM in dB, weight {loss_desc['msssim_weight']:g} "
              f"from step {loss_desc['from_step']}", flush=True)
    if loss_desc.get("rate_kappa"):
        print(f"rate term: {loss_desc['rate_kappa']:g} dB per doubling of bpp + "
              f"{RATE_FLOOR:g} from step {loss_desc['from_step']}", flush=True)
    logf = open(work / "train.log", "a")
    t0 = time.time()
    c0 = time.process_time()
    acc = []
    ema_decay = args.ema

    def save():
        tmp = work / "ckpt.tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                    "total": total, "arch": arch, "ema": ema, "np_rng": _rng_state(rng),
                    "torch_rng": torch.get_rng_state(),
                    "cpu_s": cpu_before + time.process_time() - c0,
                    "data": {"cid22": str(args.data), "clic": str(args.clic)},
                    "batch": args.batch, "crop": args.crop, "lr": args.lr, "seed": args.seed,
                    "threads": args.threads, "sampler": sampler_desc, "loss": loss_desc,
                    "blocks": BLOCKS, "grown": grown,
                    "forked_from": state.get("forked_from") if state is not None else None,
                    "init_from": init_desc},
                   tmp)
        os.replace(tmp, ck)

    last_save = time.time()
    while step < min(total, args.stop_at or total):
        for gp in opt.param_groups:
            gp["lr"] = lr_at(step, total, args.lr) * gp.get("lr_mult", 1.0)
        if sources is None:
            xb = get_batch(rng, imgs, args.batch, args.crop)
        else:
            xb = get_batch_list(rng, sources, args.batch, args.crop)
        xb = to_tensor(torch, xb, dev)
        n, d = sampler(rng, args.batch)
        nt = torch.from_numpy(n).to(dev)
        dt = torch.from_numpy(d).float().to(dev)
        xh, bpp, _ = model(xb, nt, dt)
        dist = distortion_db(torch, xh, xb, loss_desc["msssim_weight"])
        loss = (dist + rate_term(torch, bpp, loss_desc)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        with torch.no_grad():
            for k, v in model.state_dict().items():
                if v.dtype.is_floating_point:
                    ema[k].mul_(ema_decay).add_(v.detach(), alpha=1 - ema_decay)
                else:
                    ema[k].copy_(v)
        acc.append((loss.item(), dist.mean().item(), bpp.mean().item()))
        if step % 50 == 0:
            a = np.mean(acc, 0)
            acc = []
            msg = (f"step {step} loss {a[0]:.3f} dist_dB {a[1]:.3f} bpp {a[2]:.4f} "
                   f"lr {lr_at(step, total, args.lr):.2e} wall {time.time() - t0:.0f}s "
                   f"cpu {cpu_before + time.process_time() - c0:.0f}s")
            print(msg, flush=True)
            logf.write(msg + "\n")
            logf.flush()
        if step % args.ckpt_every == 0 or step == total or time.time() - last_save > 600:
            save()
            last_save = time.time()
        if step % args.eval_every == 0 or step == total:
            cur = {k: v.clone() for k, v in model.state_dict().items()}
            model.load_state_dict(ema)
            r = evaluate(torch, model, val[:, :384, :384] if arch != "v1" else val, dev,
                         settings=EVAL_SETTINGS.get(arch, EVAL_SETTINGS["v1"]))
            model.load_state_dict(cur)
            msg = f"eval(ema) step {step} " + json.dumps(r)
            print(msg, flush=True)
            logf.write(msg + "\n")
            logf.flush()
    save()
    print("stopped" if step < total else "done", flush=True)


EVAL_SETTINGS = {
    "v1": ((6, 1.0), (9, 1.0), (13, 1.0), (13, 2.0), (23, 1.0)),
    "v2": ((6, 2.0), (9, 1.0), (15, 1.0), (25, 0.5), (29, 0.25)),
}


# ------------------------------------------------------------------------------------
# export: weights + fitted integer context model


def cmd_export(args):
    """Write the npz the codec loads (weights, encoder, context-model tables)."""
    import torch

    _tool_paths()
    import frappe_fit as fit  # fits the codec's integer context model (tooling, not shipped)

    work = Path(args.work)
    state = torch.load(work / "ckpt.pt", map_location="cpu", weights_only=False)
    set_arch(state.get("arch", "v1"), state.get("blocks"))
    Model, groups, dec_in = build(torch)
    model = Model()
    model.load_state_dict(state["ema"] if "ema" in state and not args.raw else state["model"])
    model.eval()
    arrays = weights_to_arrays(model, groups)
    # fit the integer context model on the TRAINING split's latents
    train_files, val_files = split_files(Path(args.data))
    imgs = load_images(train_files[::args.fit_every])
    edges = fit.STEP_EDGES if args.step_edges is None else tuple(args.step_edges)
    arrays.update(fit.fit_tables(arrays, imgs, edges=edges))
    # rate-control path fitted on the validation split
    if not args.no_path:
        arrays.update(_fit_path(fit, arrays, val_files, args))
    import manifest  # models/manifest.py

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    arch = state.get("arch", "v1")
    data = ("CID22 training photographs (/work/shared/corpora/train-images, 160 of 178 "
            "images; every 10th in sorted order held out for validation)")
    if arch != "v1":
        data += ("; CLIC 2025 photographs (/work/shared/corpora/train-images-clic, 30 of 33, "
                 "every 10th held out; at full size and downscaled 2x and 4x)")
    extra = {}
    if "cpu_s" in state:
        extra = {"arch": arch, "steps": int(state["step"]), "schedule_steps": int(state["total"]),
                 "training_cpu_hours": round(state["cpu_s"] / 3600, 3),
                 "weights": "EMA" if "ema" in state and not args.raw else "raw",
                 "batch": state.get("batch"), "crop": state.get("crop"),
                 "threads": state.get("threads"), "blocks": BLOCKS}
        if state.get("sampler"):
            extra["nd_sampler"] = state["sampler"]
        if state.get("forked_from"):
            extra["forked_from"] = state["forked_from"]
        if state.get("init_from"):
            extra["initialised_from"] = state["init_from"]
        if (state.get("loss") or {}).get("msssim_weight"):
            extra["distortion"] = dict(state["loss"], term=(
                "(10 log10 MSE + w * 10 log10(1 - MS-SSIM)) / (1 + w) from step from_step"))
    final = manifest.ship(Path(args.out), args.name, buf.getvalue(), "npz",
                          made_by=args.made_by, data=data,
                          licence=("CC BY-SA 4.0 (CID22) and the Unsplash licence (CLIC); "
                                   "weights made by squeeze") if arch != "v1" else
                          "CC BY-SA 4.0 (training data); weights made by squeeze", **extra)
    print(f"wrote {final} ({final.stat().st_size} bytes)")


def _fit_path(fit, arrays: dict, val_files: list[Path], args) -> dict:
    """The rate path measured on the validation images (``--path-images`` of them),
    its channel counts chosen for PSNR, plus MS-SSIM with ``--path-metric
    psnr+msssim`` (the default)."""
    msssim = None
    if args.path_metric != "psnr":
        _tool_paths()
        from benchmarks.suites.image import ms_ssim as msssim  # the bench's own metric
    val = load_images(val_files[:args.path_images] if args.path_images else val_files)
    return fit.fit_path(arrays, val, msssim=msssim, msssim_weight=args.path_msssim_weight,
                        jobs=args.jobs)


def _shipped_source(args, verb: str) -> tuple[Path, dict, dict]:
    """(models folder, its manifest by name, the entry of ``--source``) for a command
    that rewrites a
    shipped model file; the tooling's and the codec's folders go on sys.path.  A
    derived model is refused: such commands work on its parent."""
    _tool_paths()
    out = Path(args.out)
    entries = {e["name"]: e for e in json.loads((out / "MANIFEST.json").read_text())}
    if args.source not in entries:
        raise SystemExit(f"{verb}: no model named {args.source} in {out / 'MANIFEST.json'}")
    src = entries[args.source]
    if "parent" in src:
        raise SystemExit(f"{verb}: {args.source} is a derived model; {verb} its parent "
                         f"({src['parent']})")
    return out, entries, src


def cmd_repath(args):
    """Refit only the rate path (channel count and step per target rate) of a shipped
    model file and ship the result under ``--name``: the weights and entropy tables
    stay as they are (a path fitted by ``export`` with the same options gives the
    same file)."""
    out, _entries, src = _shipped_source(args, "repath")
    import frappe_fit as fit
    import manifest  # models/manifest.py

    with np.load(out / src["file"]) as z:
        arrays = {k: z[k] for k in z.files}
    # the path's arrays are replaced in place: the same key order as an export's
    if args.reuse_grids:  # choose again from the grids the source file was measured on
        if args.path_metric != "psnr" and "val_msssim" not in arrays:
            raise SystemExit("repath --reuse-grids: the source has no MS-SSIM grid")
        grids = {k: arrays[k] for k in ("val_bpp", "val_psnr", "val_steps", "val_msssim")
                 if k in arrays and (k != "val_msssim" or args.path_metric != "psnr")}
        from squeeze_image.model import Model

        path = fit.choose_path(grids, Model(arrays, "fit").n_ch, args.path_msssim_weight)
        arrays.update({**path, **grids})
    else:
        arrays.pop("val_msssim", None)
        arrays.update(_fit_path(fit, arrays, split_files(Path(args.data))[1], args))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    keep = {k: v for k, v in src.items()
            if k not in ("name", "file", "sha256", "size", "made_by", "data", "licence")}
    final = manifest.ship(out, args.name, buf.getvalue(), "npz",
                          made_by=src["made_by"] + "; " + args.made_by,
                          data=src["data"], licence=src["licence"], **keep)
    print(f"wrote {final} ({final.stat().st_size} bytes)")


DQ_EXPAND_GRID = (0.0, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15)
DERIVE_RATES = (0.05, 0.1, 0.2, 0.4, 0.8)


def cmd_derive(args):
    """A derived model (SPEC.md section 5.2): a small file naming a shipped model by its
    sha256 and replacing some of its arrays, here the decoder's dequantisation offset
    ``dq_expand``, chosen on the validation photographs: each value of DQ_EXPAND_GRID
    codes them at the source's own rate-path points (DERIVE_RATES) with the encoder and
    decoder both reading q + sign(q) e, and the best mean PSNR (or MS-SSIM in dB with
    ``--metric ms-ssim``) wins.  The source's entry is kept under ``--parent-name`` (the
    same file: its streams keep decoding), the derived file ships under ``--name``."""
    out, entries, src = _shipped_source(args, "derive")
    import manifest  # models/manifest.py
    from squeeze_image import entropy
    from squeeze_image.codec import FrappeCodec
    from squeeze_image.model import Model, _arrays

    arrays = _arrays(str(out / src["file"]))
    msssim = None
    if args.metric == "ms-ssim":
        from benchmarks.suites.image import ms_ssim as msssim
    val = load_images(split_files(Path(args.data))[1])
    # the (n, D) the codec's rate control starts from at each rate
    points = [FrappeCodec._path_point(Model(arrays, "derive"), r) for r in DERIVE_RATES]
    measured = {}
    values = sorted({0.0, *([args.dq_expand] if args.dq_expand is not None
                            else DQ_EXPAND_GRID)})
    for e in values:
        mdl = Model({**arrays, "dq_expand": np.float32(e)}, "derive")
        quality, rate = [], []
        for n, D in points:
            acc = bits = 0.0
            for im in val:
                H, W = im.shape[:2]
                qs = [entropy.quantise(y, D) for y in mdl.analysis(im, n)]
                bits += entropy.estimate_bits(mdl, qs, n, D) / (H * W)
                rec = mdl.synthesis(qs, n, D / 256.0, H, W, H, W)
                if msssim is None:
                    mse = np.mean((rec.astype(np.float64) - im) ** 2)
                    acc += 10 * math.log10(255.0 ** 2 / max(mse, 1e-10))
                else:
                    acc += -10 * math.log10(max(1.0 - msssim(rec, im), 1e-10))
            quality.append(acc / len(val))
            rate.append(bits / len(val))
        measured[e] = (quality, rate)
    # the encoder's linear path reads the offset too, so the rate moves a little: each
    # point is compared at equal rate, through the slope (dB per doubling) of e = 0's
    # own curve over the neighbouring points
    q0, r0 = (np.array(v) for v in measured[0.0])
    lr = np.log2(r0)
    slope = np.gradient(q0, lr)
    scores = {}
    for e, (quality, rate) in measured.items():
        scores[e] = list(np.array(quality) - slope * (np.log2(rate) - lr))
        print(f"dq_expand {e:g}: " + ", ".join(
            f"{r:g} bpp: {v:.3f} ({b:.4f} bpp, {s:.3f} at e = 0's rate)" for r, v, b, s in
            zip(DERIVE_RATES, quality, rate, scores[e])), flush=True)
    best = max((e for e in values if args.dq_expand is None or e == args.dq_expand),
               key=lambda e: np.mean(scores[e]))
    if args.parent_name not in entries:
        man = json.loads((out / "MANIFEST.json").read_text())
        man.append(dict(src, name=args.parent_name))
        (out / "MANIFEST.json").write_text(json.dumps(man, indent=1) + "\n")
    buf = io.BytesIO()
    np.savez_compressed(buf, parent_sha256=np.array(src["sha256"]),
                        dq_expand=np.float32(best))
    metric = "MS-SSIM dB" if msssim is not None else "PSNR dB"
    final = manifest.ship(
        out, args.name, buf.getvalue(), "npz",
        made_by=src["made_by"] + "; " + args.made_by, data=src["data"],
        licence=src["licence"], parent=args.parent_name, parent_sha256=src["sha256"],
        dq_expand=float(best),
        dq_expand_choice={"metric": metric + " at equal rate", "rates_bpp": list(DERIVE_RATES),
                          "images": f"the {len(val)} validation photographs",
                          "mean_by_value": {f"{e:g}": [round(float(v), 4) for v in t]
                                            for e, t in scores.items()}},
        **{k: v for k, v in src.items() if k not in (
            "name", "file", "sha256", "size", "made_by", "data", "licence")})
    print(f"dq_expand {best:g}: wrote {final} ({final.stat().st_size} bytes)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", default=DEFAULT_DATA)
    t.add_argument("--work", default=DEFAULT_WORK)
    t.add_argument("--steps", type=int, default=20000)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--crop", type=int, default=192)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--eval-every", type=int, default=1000)
    t.add_argument("--arch", choices=sorted(ARCHS), default="v2",
                   help="architecture of a NEW run (a resumed run keeps its own)")
    t.add_argument("--clic", default=DEFAULT_CLIC, help="CLIC training photographs (v2)")
    t.add_argument("--ema", type=float, default=0.999, help="decay of the exported weight EMA")
    t.add_argument("--ckpt-every", type=int, default=100,
                   help="steps between checkpoints (also one at least every 10 minutes)")
    t.add_argument("--stop-at", type=int, default=0,
                   help="stop (with a checkpoint) at this step, to go on in a later session")
    t.add_argument("--nd-path", default="", help="sample (n, D) around the rate path of "
                   "this model file (PathSampler); a resumed run keeps its sampler")
    t.add_argument("--msssim-weight", type=float, default=None,
                   help="mix MS-SSIM into the distortion with this weight (0: PSNR only); "
                        "kept in the checkpoint, set when a run starts or is first resumed")
    t.add_argument("--nd-range", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                   help="the path sampler's rates, log-uniform in [LO, HI] bpp (default "
                   "0.02 1.2); for a new run or a fork, kept from then on")
    t.add_argument("--rate-kappa", type=float, default=None,
                   help="rate term k * log2(bpp + 0.01) (k dB per doubling of the rate) "
                   "instead of LAMBDA * bpp; kept for the whole run")
    t.add_argument("--fork-from", default="", help="start this run (an empty --work) from "
                   "another run's checkpoint; its loss may differ (--msssim-weight)")
    t.add_argument("--grow-blocks", type=int, default=0,
                   help="with --fork-from: add this many decoder blocks after the fork's "
                        "(identity at first: their last 1x1 convolution is zero)")
    t.add_argument("--grow-lr", type=float, default=10.0,
                   help="learning-rate factor of the grown blocks (kept in the checkpoint)")
    t.add_argument("--init-model", default="", help="start this run (an empty --work) "
                   "from a model file's weights (a shipped .npz), with a fresh optimiser; "
                   "with --grow-blocks, deeper")
    t.add_argument("--extend", action="store_true",
                   help="a resumed run takes --steps as its new total (the schedule stretches)")
    e = sub.add_parser("export")
    e.add_argument("--data", default=DEFAULT_DATA)
    e.add_argument("--work", default=DEFAULT_WORK)
    e.add_argument("--out", default=str(MODELS_DIR))
    e.add_argument("--no-path", action="store_true")
    e.add_argument("--raw", action="store_true", help="export the raw weights, not the EMA")
    e.add_argument("--name", default="frappe-image", help="manifest name of the export")
    e.add_argument("--fit-every", type=int, default=1, help="fit the entropy tables on every "
                   "k-th training image (1 = all; more only for quick development exports)")
    e.add_argument("--path-images", type=int, default=0, help="validation images for the "
                   "rate path (0 = all; fewer only for quick development exports)")
    e.add_argument("--step-edges", type=int, nargs="*", default=None,
                   help="entropy tables per range of steps D split at these steps (SPEC.md "
                   "section 4; none given: one set for all steps); default "
                   "frappe_fit.STEP_EDGES")
    e.add_argument("--made-by", default="python models/train_frappe.py train && "
                                         "python models/train_frappe.py export")
    for sp in (e, r := sub.add_parser("repath")):
        sp.add_argument("--path-metric", choices=("psnr", "psnr+msssim"),
                        default="psnr+msssim", help="what the rate path's channel counts "
                        "maximise on the validation images (MS-SSIM in dB)")
        sp.add_argument("--path-msssim-weight", type=float, default=0.5,
                        help="weight of MS-SSIM (dB) beside PSNR in the path's choice")
        sp.add_argument("--jobs", type=int, default=1, help="worker processes measuring "
                        "the rate path's validation images (the result does not change)")
    r.add_argument("--data", default=DEFAULT_DATA)
    r.add_argument("--out", default=e.get_default("out"))
    r.add_argument("--source", default="frappe-image", help="manifest name of the model")
    r.add_argument("--name", default="frappe-image", help="manifest name of the result")
    r.add_argument("--path-images", type=int, default=0)
    r.add_argument("--reuse-grids", action="store_true", help="choose the path from the "
                   "validation grids stored in the source file (no new measurement)")
    r.add_argument("--made-by", default="python models/train_frappe.py repath")
    d = sub.add_parser("derive")
    d.add_argument("--data", default=DEFAULT_DATA)
    d.add_argument("--out", default=e.get_default("out"))
    d.add_argument("--source", default="frappe-image", help="manifest name of the model")
    d.add_argument("--parent-name", required=True,
                   help="manifest name the source is kept under (e.g. frappe-image-v5)")
    d.add_argument("--name", default="frappe-image", help="manifest name of the result")
    d.add_argument("--dq-expand", type=float, default=None,
                   help="this offset instead of the best of DQ_EXPAND_GRID")
    d.add_argument("--metric", choices=("psnr", "ms-ssim"), default="psnr")
    d.add_argument("--made-by", default="python models/train_frappe.py derive")
    args = ap.parse_args(argv)
    {"train": cmd_train, "export": cmd_export, "repath": cmd_repath,
     "derive": cmd_derive}[args.cmd](args)


if __name__ == "__main__":
    main()
