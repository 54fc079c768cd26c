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
  10 log10 MSE_i + LAMBDA * bpp_i(prefix n_i), mean over the batch.

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
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

PATCHES = [32] * 3 + [16] * 6 + [8] * 4 + [4] * 10  # 23 channels, coarse to fine
GRID = 8  # decoder works on the 1/8-resolution grid
DIM = 128
BLOCKS = 4
LAMBDA = 10.0  # dB per bpp
N_MIN = 3
D_MIN = 0.25  # quantisation steps below 1 (finer than int8) give the highest rates
D_MAX = 6.0
CTX_PREV = 3  # previous channels used as context
N_FEAT_MU = 4 + CTX_PREV  # N, NW, NE, NN, prev1..3
N_FEAT_SC = N_FEAT_MU + 3  # |.| of those + |N-NW|, |N-NE|, |N-NN|

DEFAULT_DATA = "/work/shared/corpora/train-images"
DEFAULT_WORK = "/work/frappe-train"


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
    dec_in = sum(c * max(1, (GRID // p) ** 2) for p, _, c in groups)

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
            self.head = nn.Conv2d(DIM, 3 * GRID * GRID, 1)

        def forward(self, lat, c):
            return F.pixel_shuffle(self.head(self.body(lat, c)), GRID)

        def body(self, lat, c):
            h = self.inp(lat)
            for b in self.blocks:
                h = b(h, c)
            return h

    def to_grid(groups_y):
        parts = []
        for (p, _, _c), y in zip(groups, groups_y):
            if p > GRID:
                parts.append(F.interpolate(y, scale_factor=p // GRID, mode="nearest"))
            elif p == GRID:
                parts.append(y)
            else:
                parts.append(F.pixel_unshuffle(y, GRID // p))
        return torch.cat(parts, 1)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = Encoder()
            self.ctx = CtxModel()
            self.dec = Decoder()

        def forward(self, x, n, delta, noise_rate=True):
            """x (B,3,H,W) in [-1,1]; n (B,) channel counts; delta (B,) steps."""
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

    return Model, groups, dec_in


# ------------------------------------------------------------------------------------
# training


def sample_nd(rng: np.random.Generator, b: int) -> tuple[np.ndarray, np.ndarray]:
    n_ch = len(PATCHES)
    choices = np.arange(N_MIN, n_ch + 1)
    w = np.ones(len(choices))
    w[(choices >= 6) & (choices <= 15)] = 2.0
    n = rng.choice(choices, size=b, p=w / w.sum())
    d = np.exp(rng.uniform(math.log(D_MIN), math.log(D_MAX), size=b))
    d[rng.random(b) < 0.3] = 1.0
    return n, d


def get_batch(rng, imgs, b, crop):
    N, H, W, _ = imgs.shape
    out = np.empty((b, crop, crop, 3), np.uint8)
    for i in range(b):
        k = rng.integers(N)
        y = rng.integers(0, H - crop + 1)
        x = rng.integers(0, W - crop + 1)
        c = imgs[k, y:y + crop, x:x + crop]
        if rng.random() < 0.5:
            c = c[:, ::-1]
        if rng.random() < 0.5:
            c = c[::-1]
        out[i] = c
    return out


def to_tensor(torch, u8, dev):
    t = torch.from_numpy(np.ascontiguousarray(u8)).to(dev).permute(0, 3, 1, 2)
    return t.float() / 127.5 - 1.0


def lr_at(step, total, peak, warm=500):
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return 1e-5 + (peak - 1e-5) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def evaluate(torch, model, val, dev,
             settings=((6, 1.0), (9, 1.0), (13, 1.0), (13, 2.0), (23, 1.0))):
    model.eval()
    res = {}
    with torch.no_grad():
        x = to_tensor(torch, val, dev)
        for n, d in settings:
            mses, bpps = [], []
            for i in range(0, len(val), 6):
                xb = x[i:i + 6]
                b = xb.shape[0]
                xh, bpp, _ = model(xb, torch.full((b,), n, device=dev),
                                   torch.full((b,), float(d), device=dev), noise_rate=False)
                xh = ((xh.clamp(-1, 1) + 1) * 127.5).round()
                ref = (xb + 1) * 127.5
                mses.append(((xh - ref) ** 2).mean((1, 2, 3)).cpu().numpy())
                bpps.append(bpp.cpu().numpy())
            mse = np.concatenate(mses)
            res[f"n{n}d{d:g}"] = {"psnr": float(np.mean(10 * np.log10(255 ** 2 / mse))),
                                  "bpp_proxy_d1": float(np.mean(np.concatenate(bpps)))}
    model.train()
    return res


def cmd_train(args):
    import torch

    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    train_files, val_files = split_files(Path(args.data))
    imgs = load_images(train_files)
    val = load_images(val_files)
    Model, _, _ = build(torch)
    model = Model().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    ck = work / "ckpt.pt"
    step = 0
    rng = np.random.default_rng(args.seed)
    if ck.exists():
        state = torch.load(ck, map_location=dev, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        rng = np.random.default_rng([args.seed, step])
        print(f"resumed at step {step}", flush=True)
    logf = open(work / "train.log", "a")
    t0 = time.time()
    c0 = time.process_time()
    acc = []
    while step < args.steps:
        for gp in opt.param_groups:
            gp["lr"] = lr_at(step, args.steps, args.lr)
        xb = to_tensor(torch, get_batch(rng, imgs, args.batch, args.crop), dev)
        n, d = sample_nd(rng, args.batch)
        nt = torch.from_numpy(n).to(dev)
        dt = torch.from_numpy(d).float().to(dev)
        xh, bpp, _ = model(xb, nt, dt)
        mse = ((xh - xb) ** 2).mean((1, 2, 3)) * (127.5 ** 2)
        dist = 10 * torch.log10(mse + 1e-3)
        loss = (dist + LAMBDA * bpp).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        acc.append((loss.item(), dist.mean().item(), bpp.mean().item()))
        if step % 50 == 0:
            a = np.mean(acc, 0)
            acc = []
            msg = (f"step {step} loss {a[0]:.3f} dist_dB {a[1]:.3f} bpp {a[2]:.4f} "
                   f"lr {lr_at(step, args.steps, args.lr):.2e} wall {time.time() - t0:.0f}s "
                   f"cpu {time.process_time() - c0:.0f}s")
            print(msg, flush=True)
            logf.write(msg + "\n")
            logf.flush()
        if step % 250 == 0 or step == args.steps:
            tmp = work / "ckpt.tmp"
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, tmp)
            os.replace(tmp, ck)
        if step % args.eval_every == 0 or step == args.steps:
            r = evaluate(torch, model, val, dev)
            msg = f"eval step {step} " + json.dumps(r)
            print(msg, flush=True)
            logf.write(msg + "\n")
            logf.flush()
    print("done", flush=True)


# ------------------------------------------------------------------------------------
# export: weights + fitted integer context model


def cmd_export(args):
    """Write the npz the codec loads (weights, encoder, context-model tables)."""
    import torch

    sys.path[:0] = [str(Path(__file__).resolve().parent.parent),
                    str(Path(__file__).resolve().parent.parent / "codecs")]
    from squeeze_image import fit  # the integer context model lives with the codec

    work = Path(args.work)
    Model, groups, dec_in = build(torch)
    model = Model()
    state = torch.load(work / "ckpt.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    model.eval()
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    s, g = model.enc.scales()
    arrays = {"patches": np.array(PATCHES, np.int32), "grid": np.int32(GRID),
              "dim": np.int32(DIM), "blocks": np.int32(BLOCKS),
              "enc_s": s.detach().numpy().astype(np.float32),
              "enc_g": g.detach().numpy().astype(np.float32)}
    for gi in range(len(groups)):
        arrays[f"enc{gi}_w"] = sd[f"enc.convs.{gi}.weight"]
        arrays[f"enc{gi}_b"] = sd[f"enc.convs.{gi}.bias"]
    arrays["dec_in_w"] = sd["dec.inp.weight"]
    arrays["dec_in_b"] = sd["dec.inp.bias"]
    for bi in range(BLOCKS):
        for nm in ("dw.weight", "dw.bias", "film.weight", "film.bias", "pw1.weight", "pw1.bias",
                   "pw2.weight", "pw2.bias", "ls"):
            arrays[f"b{bi}_{nm.replace('.', '_')}"] = sd[f"dec.blocks.{bi}.{nm}"]
    arrays["head_w"] = sd["dec.head.weight"]
    arrays["head_b"] = sd["dec.head.bias"]
    arrays["ctx_w_mu"] = sd["ctx.w_mu"]
    arrays["ctx_v_sc"] = sd["ctx.v_sc"]
    arrays["ctx_a_sc"] = sd["ctx.a_sc"]
    # fit the integer context model on the TRAINING split's latents
    train_files, val_files = split_files(Path(args.data))
    imgs = load_images(train_files)
    arrays.update(fit.fit_tables(arrays, imgs))
    # rate-control path fitted on the validation split
    if not args.no_path:
        val = load_images(val_files[:args.path_images] if args.path_images else val_files)
        arrays.update(fit.fit_path(arrays, val))
    out = Path(args.out)
    tmp = out / "frappe-tmp.npz"
    np.savez_compressed(tmp, **arrays)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    name = f"frappe-image-{digest[:16]}.npz"
    final = out / name
    os.replace(tmp, final)
    man_path = out / "MANIFEST.json"
    man = json.loads(man_path.read_text()) if man_path.exists() else []
    man = [e for e in man if e["name"] != "frappe-image"]
    man.append({
        "name": "frappe-image",
        "file": name,
        "sha256": digest,
        "size": final.stat().st_size,
        "made_by": args.made_by,
        "data": "CID22 training photographs (/work/shared/corpora/train-images, 160 of 178 "
                "images; every 10th in sorted order held out for validation)",
        "licence": "CC BY-SA 4.0 (training data); weights made by squeeze",
    })
    man_path.write_text(json.dumps(man, indent=1) + "\n")
    print(f"wrote {final} ({final.stat().st_size} bytes)")


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
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--eval-every", type=int, default=1000)
    e = sub.add_parser("export")
    e.add_argument("--data", default=DEFAULT_DATA)
    e.add_argument("--work", default=DEFAULT_WORK)
    e.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "codecs"
                                           / "squeeze_image" / "models"))
    e.add_argument("--no-path", action="store_true")
    e.add_argument("--path-images", type=int, default=0, help="validation images for the "
                   "rate path (0 = all; fewer only for quick development exports)")
    e.add_argument("--made-by", default="python models/train_frappe.py train && "
                                         "python models/train_frappe.py export")
    args = ap.parse_args(argv)
    {"train": cmd_train, "export": cmd_export}[args.cmd](args)


if __name__ == "__main__":
    main()
